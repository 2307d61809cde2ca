"""Read a department's change table: the changes after a given id, as they come.

SQLite is polled. PostgreSQL is woken by LISTEN on ``govgraph_changes``
(the triggers NOTIFY with the department's id) and still polled at the
same bounded interval, so a lost notification delays a change, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from govgraph.catalog.model import Department
from govgraph.catalog.specs import SqlSourceSpec
from govgraph.events.change import Change
from govgraph.events.table import changes
from govgraph.events.triggers import CHANNEL

MAX_POLL_INTERVAL = 60.0


class PolledFeed:
    """A department's changes after ``after``, read ``batch`` at a time: at once while a read comes back
    full, otherwise when woken (``_wake``) or every ``poll_interval`` seconds. Subclasses read (``fetch``)."""

    def __init__(self, department: str, after: int, poll_interval: float, batch: int) -> None:
        if not 0 < poll_interval <= MAX_POLL_INTERVAL:
            raise ValueError(f"poll_interval must be within (0, {MAX_POLL_INTERVAL}] seconds")
        self.department = department
        self.after = after
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake = asyncio.Event()
        self._closed = False

    async def fetch(self, after: int) -> list[Change]:
        raise NotImplementedError

    async def _polled(self) -> AsyncIterator[Change]:
        while not self._closed:
            self._wake.clear()
            found = await self.fetch(self.after)
            for change in found:
                self.after = change.id
                yield change
            if len(found) == self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def aclose(self) -> None:
        self._closed = True
        self._wake.set()


class ChangeFeed(PolledFeed):
    def __init__(
        self,
        engine: AsyncEngine,
        department: str,
        schema: str | None = None,
        after: int = 0,
        poll_interval: float = 1.0,
        batch: int = 500,
    ) -> None:
        super().__init__(department, after, poll_interval, batch)
        self.engine = engine
        self.schema = schema
        self._listener: AsyncConnection | None = None
        self._owns_engine = False

    @classmethod
    def for_department(cls, department: Department, **options: Any) -> ChangeFeed:
        """A feed over a SQL department's own source; closing the feed disposes of its engine."""
        source = department.source
        if not isinstance(source, SqlSourceSpec):
            raise ValueError(
                f"department {department.id} is not a SQL source: it has no change table to read"
            )
        feed = cls(create_async_engine(source.url), department.id, source.db_schema, **options)
        feed._owns_engine = True
        return feed

    @property
    def listening(self) -> bool:
        return self._listener is not None

    async def fetch(self, after: int) -> list[Change]:
        """Changes with an id above ``after``, oldest first, at most ``batch`` of them."""
        query = sa.select(changes).where(changes.c.id > after).order_by(changes.c.id).limit(self.batch)
        async with self.engine.connect() as connection:
            translated = await connection.execution_options(schema_translate_map={None: self.schema})
            rows = (await translated.execute(query)).all()
        return [Change.from_row(self.department, row) for row in rows]

    async def start(self) -> None:
        """Listen before the first read, so that no change falls between the two."""
        if self.engine.dialect.name != "postgresql" or self._listener is not None:
            return
        connection = await self.engine.connect()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.add_listener(CHANNEL, self._notified)  # type: ignore[union-attr]
        self._listener = connection

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.department:
            self._wake.set()

    async def __aiter__(self) -> AsyncIterator[Change]:
        await self.start()
        async for change in self._polled():
            yield change

    async def aclose(self) -> None:
        await super().aclose()
        listener, self._listener = self._listener, None
        if listener is not None:
            raw = await listener.get_raw_connection()
            with contextlib.suppress(Exception):
                await raw.driver_connection.remove_listener(CHANNEL, self._notified)  # type: ignore[union-attr]
            await listener.close()
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> ChangeFeed:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
