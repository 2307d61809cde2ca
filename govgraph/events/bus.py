"""The change bus: each department's changes, to this process's live subscribers and, once, to the webhook outbox.

- ``ChangeBus`` is what the hub talks to: ``start(broadcast, enqueue)``,
  ``head(department)``, ``aclose()``.
- ``LocalChangeBus`` (here) reads every department's change table in this
  process; ``RedisChangeBus`` (``streams.py``) shares the reading among
  processes through a Redis stream.
- ``CatalogFeeds`` gives the ``feeds`` and ``latest`` callables both take,
  for the catalog's SQL departments.

A department's feed starts after the webhook enqueuer's durable cursor
(``latest`` on a first start). Each change is first enqueued (the outbox
commits its deliveries and the cursor), retried until that succeeds, so the
cursor never passes a change whose deliveries are not committed; then it is
broadcast, but only when it is newer than the department's latest change at
start: a live subscriber never gets history. A department that cannot be
read is retried with bounded backoff from its last handled change, without
holding up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from govgraph.catalog.model import Catalog
from govgraph.catalog.specs import SqlSourceSpec
from govgraph.diagnostics import describe
from govgraph.events.change import Change
from govgraph.events.feed import ChangeFeed, PolledFeed
from govgraph.events.table import changes
from govgraph.sources.engines import existing_sqlite_file

logger = logging.getLogger("govgraph.events.bus")

Handler = Callable[[Change], Awaitable[None]]
Feeds = Callable[[str, int], PolledFeed]
"""``feeds(department, after)``: a new feed of the department's changes with an id above ``after``."""
Cursor = Callable[[str], Awaitable[int | None]]
"""The last change of a department whose webhook deliveries are committed; ``None`` before the first."""
Latest = Callable[[str], Awaitable[int]]
"""The highest change id in a department's change table now (0 when it is empty)."""

BACKOFF: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30)
"""Seconds between retries of something that failed; the last step repeats."""
JITTER = 0.1
TIMEOUT = 10.0
"""Seconds one read of a position (cursor, latest) may take."""
HANDLER_TIMEOUT = 30.0
"""Seconds one ``enqueue`` or ``broadcast`` may take before it counts as failed."""


class ChangeBus(Protocol):
    async def start(self, broadcast: Handler, enqueue: Handler) -> None:
        """Begin delivering; returns once each department's position has been read or has failed once."""

    def head(self, department: str) -> int:
        """The highest change id of ``department`` this process knows: a new live subscriber starts after it."""

    async def aclose(self) -> None: ...


class ChangesUnreadable(Exception):
    """A department's changes, or where to start reading them, cannot be read now."""

    def __init__(self, department: str, cause: BaseException) -> None:
        self.department = department
        self.reason = f"{type(cause).__name__}: {describe(cause)}"
        super().__init__(f"department {department}: its changes cannot be read ({self.reason})")


async def pause(attempt: int, backoff: Sequence[float]) -> None:
    """Sleep the ``attempt``-th step of ``backoff`` (the last step repeats), plus a little jitter."""
    delay = backoff[min(attempt, len(backoff) - 1)]
    await asyncio.sleep(delay * (1 + JITTER * random.random()))


async def retry_enqueue(
    enqueue: Handler, change: Change, backoff: Sequence[float], timeout: float = HANDLER_TIMEOUT
) -> None:
    """Enqueue ``change``, retrying it until it succeeds: what comes after it waits."""
    attempt = 0
    while True:
        try:
            async with asyncio.timeout(timeout):
                await enqueue(change)
            return
        except Exception as error:  # any fault of the outbox: the same change is tried again
            logger.error(
                "change %s of %s not enqueued (attempt %d), retrying: %s: %s",
                change.id,
                change.department,
                attempt + 1,
                type(error).__name__,
                describe(error),
            )
        await pause(attempt, backoff)
        attempt += 1


async def try_broadcast(broadcast: Handler, change: Change, timeout: float = HANDLER_TIMEOUT) -> None:
    """Broadcast ``change`` once; a failure is logged and the change skipped."""
    try:
        async with asyncio.timeout(timeout):
            await broadcast(change)
    except Exception as error:  # one live subscriber's trouble must not hold up the feed
        logger.error(
            "change %s of %s not broadcast: %s: %s",
            change.id,
            change.department,
            type(error).__name__,
            describe(error),
        )


async def follow(
    department: str,
    feeds: Feeds,
    latest: Latest,
    start: Callable[[], Awaitable[int]],
    handle: Handler,
    *,
    after: int | None = None,
    attempted: asyncio.Event | None = None,
    backoff: Sequence[float] = BACKOFF,
    timeout: float = TIMEOUT,
) -> None:
    """Hand each change of ``department`` to ``handle``, forever, starting after ``after`` (or where ``start``
    says). When the changes cannot be read, log it once, back off, and resume after the last change handled.
    ``attempted`` is set once the start position has been read or has failed to be. ``handle``'s exceptions
    propagate."""
    failures = 0
    while True:
        try:
            if failures:
                await pause(failures - 1, backoff)
                await _bounded(department, latest(department), timeout)
                logger.warning("department %s: its changes can be read again", department)
                failures = 0
            if after is None:
                try:
                    after = await _bounded(department, start(), timeout)
                finally:
                    if attempted is not None:
                        attempted.set()
            async with contextlib.aclosing(_read(feeds, department, after)) as found:
                async for change in found:
                    await handle(change)
                    after = change.id
        except ChangesUnreadable as error:
            if not failures:
                logger.error("%s; retrying", error)
            failures += 1


async def _bounded(department: str, read: Awaitable[int], timeout: float) -> int:
    try:
        async with asyncio.timeout(timeout):
            return await read
    except Exception as error:
        raise ChangesUnreadable(department, error) from error


async def _read(feeds: Feeds, department: str, after: int) -> AsyncIterator[Change]:
    """The feed's changes, its failures as ``ChangesUnreadable``; the feed is closed at the end."""
    try:
        feed = feeds(department, after)
    except Exception as error:
        raise ChangesUnreadable(department, error) from error
    iterator = aiter(feed)
    try:
        while True:
            try:
                change = await anext(iterator)
            except StopAsyncIteration:
                return
            except Exception as error:
                raise ChangesUnreadable(department, error) from error
            yield change
    finally:
        await _close(feed, iterator)


async def _close(feed: PolledFeed, iterator: Any) -> None:
    for close in (iterator.aclose, feed.aclose):
        try:
            await close()
        except Exception as error:  # a dead connection may fail to close: it is dropped all the same
            logger.debug("change feed of %s not closed cleanly: %s", feed.department, describe(error))


class LocalChangeBus:
    """Every department's changes read in this process: the bus of a single-process deployment."""

    def __init__(
        self,
        feeds: Feeds,
        departments: Sequence[str],
        cursor: Cursor,
        latest: Latest,
        *,
        backoff: Sequence[float] = BACKOFF,
        timeout: float = TIMEOUT,
        handler_timeout: float = HANDLER_TIMEOUT,
    ) -> None:
        if not backoff or any(delay < 0 for delay in backoff):
            raise ValueError("backoff must be one or more delays of zero seconds or more")
        self.feeds = feeds
        self.departments = list(departments)
        self.cursor = cursor
        self.latest = latest
        self.backoff = tuple(backoff)
        self.timeout = timeout
        self.handler_timeout = handler_timeout
        self._heads: dict[str, int] = {}
        self._live_after: dict[str, int] = {}
        """Department → its latest change when the bus started: only changes above it are broadcast."""
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, broadcast: Handler, enqueue: Handler) -> None:
        if self._tasks:
            raise RuntimeError("the change bus is already started")
        attempts = []
        for department in self.departments:
            attempted = asyncio.Event()
            attempts.append(attempted.wait())
            follower = follow(
                department,
                self.feeds,
                self.latest,
                functools.partial(self._position, department),
                self._handler(department, broadcast, enqueue),
                attempted=attempted,
                backoff=self.backoff,
                timeout=self.timeout,
            )
            self._tasks.append(asyncio.create_task(follower, name=f"govgraph-changes-{department}"))
        await asyncio.gather(*attempts)

    def head(self, department: str) -> int:
        return self._heads.get(department, 0)

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _position(self, department: str) -> int:
        """Where the department's feed starts: after the cursor, or after its latest change on a first start."""
        cursor = await self.cursor(department)
        latest = await self.latest(department)
        self._live_after[department] = latest
        self._heads[department] = max(self.head(department), latest)
        return latest if cursor is None else cursor

    def _handler(self, department: str, broadcast: Handler, enqueue: Handler) -> Handler:
        async def handle(change: Change) -> None:
            await retry_enqueue(enqueue, change, self.backoff, self.handler_timeout)
            if change.id > self._live_after[department]:
                self._heads[department] = change.id
                await try_broadcast(broadcast, change, self.handler_timeout)

        return handle


class CatalogFeeds:
    """Feeds and ``latest`` over the catalog's SQL departments: one engine per database, shared by the feeds of
    every department in it (a feed re-made after a failure reuses it)."""

    def __init__(self, catalog: Catalog, departments: Sequence[str], *, poll_interval: float = 1.0) -> None:
        self.poll_interval = poll_interval
        self._sources: dict[str, SqlSourceSpec] = {}
        for department in departments:
            source = catalog.departments[department].source
            if not isinstance(source, SqlSourceSpec):
                raise ValueError(
                    f"department {department} is not a SQL source: it has no change table to read"
                )
            self._sources[department] = source
        self._engines: dict[str, AsyncEngine] = {}

    def feed(self, department: str, after: int) -> ChangeFeed:
        source = self._sources[department]
        return ChangeFeed(
            self._engine(source), department, source.db_schema, after=after, poll_interval=self.poll_interval
        )

    async def latest(self, department: str) -> int:
        source = self._sources[department]
        async with self._engine(source).connect() as connection:
            translated = await connection.execution_options(schema_translate_map={None: source.db_schema})
            highest = (await translated.execute(sa.select(sa.func.max(changes.c.id)))).scalar()
        return int(highest or 0)

    async def aclose(self) -> None:
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            await engine.dispose()

    def _engine(self, source: SqlSourceSpec) -> AsyncEngine:
        engine = self._engines.get(source.url)
        if engine is None:
            sharing = sum(other.url == source.url for other in self._sources.values())
            engine = self._engines[source.url] = _create_engine(source, sharing)
        return engine


def feed_pool_size(departments: int) -> int:
    """Connections the change feeds of ``departments`` departments in one database hold, per process."""
    return 2 * departments + 1


def _create_engine(source: SqlSourceSpec, departments: int) -> AsyncEngine:
    """An engine with every wait bounded by the source's timeout. A PostgreSQL feed holds one connection to
    LISTEN and takes another to read; ``latest`` takes one now and then."""
    size = feed_pool_size(departments)
    if source.url.startswith(("postgresql", "postgres:")):
        url = "postgresql+asyncpg://" + source.url.split("://", 1)[1]
        return create_async_engine(
            url,
            pool_size=size,
            max_overflow=0,
            pool_timeout=source.timeout,
            pool_pre_ping=True,
            connect_args={"timeout": source.timeout, "command_timeout": source.timeout},
        )
    return create_async_engine(
        existing_sqlite_file(source.url),
        pool_size=size,
        max_overflow=0,
        pool_timeout=source.timeout,
        connect_args={"timeout": source.timeout},
    )
