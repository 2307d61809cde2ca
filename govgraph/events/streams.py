"""``RedisChangeBus``: the change bus of several processes, sharing each department's changes through a Redis stream.

Every process runs three kinds of loop:

- **publish**, one per department: the process holding the department's
  lease (``SET NX PX``, renewed every third of its TTL, released by
  compare-and-delete) reads its change table and appends each change to the
  stream. One Lua script appends the entry (trimmed to about ``maxlen``) and
  records the department's last published id, and refuses when the lease is
  no longer this process's, so a process that lost its lease publishes
  nothing. It also refuses while the enqueuer is half the stream's length
  behind, and the publisher waits: trimming never reaches an entry not yet
  enqueued, and the changes wait in the department's table. A new holder resumes after the last published id; when Redis has
  none (a first start, or Redis lost its data), after the durable cursor, or
  after the latest change on a first start.
- **enqueue**, one: the process holding the enqueue lease reads the stream
  through a consumer group, one entry after another, awaits ``enqueue`` and
  acknowledges the entry. A new holder first claims what its predecessor
  left pending (``XAUTOCLAIM``; the lease, not an idle time, says the
  predecessor is gone). One enqueuer at a time keeps the stream's order, so a
  registration's deliveries are committed in change order and the cursor
  never passes a change not yet enqueued; the outbox's unique constraint
  absorbs the rare double after a crash.
- **broadcast**, one: each process reads the stream from where it joined and
  awaits ``broadcast`` for every entry above the department's head, so every
  live subscriber of every process gets every change once (an entry
  published again after Redis lost its data is not broadcast twice).

While Redis is down, every loop backs off and retries; the outage is logged
once. Nothing is lost: changes wait in the departments' tables, and the
outbox's cursor marks what is enqueued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from govgraph.diagnostics import describe
from govgraph.events.bus import (
    BACKOFF,
    HANDLER_TIMEOUT,
    JITTER,
    TIMEOUT,
    Cursor,
    Feeds,
    Handler,
    Latest,
    follow,
    pause,
    retry_enqueue,
    try_broadcast,
)
from govgraph.events.change import Change
from govgraph.redis_connections import REDIS_ERRORS, redis_client

logger = logging.getLogger("govgraph.events.streams")

STREAM = "govgraph:changes"
GROUP = "govgraph-webhooks"
MAXLEN = 100_000
"""Entries kept in the stream, about (trimming is by whole nodes of the stream, so it keeps a little more)."""
LEASE_NOT_HELD = -1
BACKLOGGED = -2
BATCH = 100

ACQUIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if tonumber(ARGV[3]) <= last then return 0 end
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[3])
if type(groups) == 'table' and not groups.err then
  for _, group in ipairs(groups) do
    local info = {}
    for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
    if info['name'] == ARGV[5] and type(info['lag']) == 'number'
        and info['lag'] + info['pending'] >= tonumber(ARGV[6]) then
      return -2
    end
  end
end
redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[5], '$', 'MKSTREAM')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 7))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
"""KEYS: lease, published ids, stream. ARGV: token, department, change id, maxlen, group, backlog limit, then the
entry's fields. Refused (-2) while the group has that many entries not yet enqueued: the stream is trimmed to
``maxlen``, so publishing further ahead of the enqueuer could trim entries it has not read. The group is made
with the stream (when Redis lost both), before the entry, so the enqueuer gets it."""


class LeaseLost(Exception):
    """Another process holds the lease now."""


def entry_fields(change: Change) -> dict[str, str | int]:
    return {
        "department": change.department,
        "id": change.id,
        "entity": change.entity,
        "key": change.key,
        "columns": json.dumps(list(change.columns)),
        "at": change.at,
    }


def entry_change(fields: dict[bytes, bytes] | None) -> Change | None:
    """The change an entry holds, or ``None`` when it is not one of ours."""
    try:
        text = {name.decode(): value.decode() for name, value in (fields or {}).items()}
        columns = json.loads(text["columns"])
        return Change(
            int(text["id"]),
            text["department"],
            text["entity"],
            text["key"],
            tuple(str(column) for column in columns),
            text["at"],
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


class Lease:
    """A Redis key holding this process's token while it does one job: publish a department, or enqueue."""

    def __init__(self, redis: Redis, key: str, token: str, ttl: float, department: str | None) -> None:
        self.key = key
        self.token = token
        self.ttl_ms = max(1, round(ttl * 1000))
        self.department = department
        """The department it publishes; ``None`` for the enqueue lease."""
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)

    @property
    def role(self) -> str:
        return "enqueue" if self.department is None else f"publish {self.department}"

    async def acquire(self) -> bool:
        """Take the lease if it is free (or extend it if it is already this process's)."""
        return bool(await self._acquire(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])


class Outage:
    """Logs a Redis outage once, when it begins, and once when it ends.

    A command under way when Redis came back may still fail after another has succeeded: a failure within
    ``grace`` seconds of the end of an outage is logged only if the trouble lasts past that."""

    def __init__(self, consumer: str, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.grace = grace
        self.clock = clock
        self.down = False
        self.announced = False
        self._ended = -math.inf

    def began(self, error: BaseException) -> bool:
        """Whether this failure begins an outage."""
        logger.debug("change bus %s: a Redis call failed: %s", self.consumer, type(error).__name__)
        new = not self.down
        self.down = True
        if not self.announced and self.clock() - self._ended >= self.grace:
            self.announced = True
            logger.error(
                "change bus %s: Redis unavailable (%s); retrying until it answers",
                self.consumer,
                type(error).__name__,
            )
        return new

    def over(self) -> None:
        if not self.down:
            return
        self.down = False
        self._ended = self.clock()
        if self.announced:
            self.announced = False
            logger.warning("change bus %s: Redis answers again", self.consumer)


class RedisChangeBus:
    def __init__(
        self,
        redis_url: str,
        feeds: Feeds,
        departments: Sequence[str],
        cursor: Cursor,
        latest: Latest,
        *,
        consumer: str,
        stream: str = STREAM,
        group: str = GROUP,
        lock_ttl: float = 10.0,
        maxlen: int = MAXLEN,
        backoff: Sequence[float] = BACKOFF,
        timeout: float = 2.0,
        read_timeout: float = TIMEOUT,
        handler_timeout: float = HANDLER_TIMEOUT,
        pool_size: int | None = None,
    ) -> None:
        """``consumer`` names this process (unique per process); ``timeout`` bounds each Redis command,
        ``read_timeout`` each read of a department's position, ``handler_timeout`` each ``enqueue`` and
        ``broadcast``. A lease not renewed for ``lock_ttl`` seconds passes to another process."""
        if lock_ttl <= 0 or timeout <= 0 or maxlen < 1:
            raise ValueError("lock_ttl and timeout must be above zero, maxlen at least 1")
        if not backoff or any(delay < 0 for delay in backoff):
            raise ValueError("backoff must be one or more delays of zero seconds or more")
        self.feeds = feeds
        self.departments = list(departments)
        self.cursor = cursor
        self.latest = latest
        self.consumer = consumer
        self.token = f"{consumer}:{uuid.uuid4().hex[:12]}"
        self.stream = stream
        self.group = group
        self.lock_ttl = lock_ttl
        self.maxlen = maxlen
        self.backlog = max(1, maxlen // 2)
        """Entries the enqueuer may be behind before publishing waits for it."""
        self.backoff = tuple(backoff)
        self.read_timeout = read_timeout
        self.handler_timeout = handler_timeout
        self.block_ms = max(1, round(timeout * 500))
        """A blocking read asks Redis to wait half the command timeout."""
        self._read_bound = self.block_ms / 1000 + timeout
        """redis-py puts no socket timeout on a blocking read: this bounds it (a Redis that hangs)."""
        size = pool_size or 2 * len(self.departments) + 4
        self._redis: Redis = redis_client(redis_url, pool_size=size, timeout=timeout)
        self._publish = self._redis.register_script(PUBLISH)
        self._published_key = f"{stream}:published"
        self._heads: dict[str, int] = {}
        self._joined: bytes | None = None
        """The stream's last entry when this process joined: it broadcasts what comes after."""
        self._outage = Outage(consumer, grace=self._read_bound)
        self._tasks: list[asyncio.Task[None]] = []
        self._held: set[Lease] = set()
        self._closing = False

    @property
    def leading(self) -> frozenset[str]:
        """The departments whose changes this process publishes now."""
        return frozenset(lease.department for lease in self._held if lease.department is not None)

    @property
    def enqueuing(self) -> bool:
        """Whether this process is the one that enqueues now."""
        return any(lease.department is None for lease in self._held)

    async def start(self, broadcast: Handler, enqueue: Handler) -> None:
        if self._tasks:
            raise RuntimeError("the change bus is already started")
        try:
            async with asyncio.timeout(self.read_timeout):
                await self._ensure_group()
                heads = await self._redis.hmget(self._published_key, self.departments)
                newest = await self._redis.xrevrange(self.stream, count=1)
        except REDIS_ERRORS as error:
            await self._failed(error)
        else:
            self._heads = {d: int(h) for d, h in zip(self.departments, heads, strict=True) if h is not None}
            self._joined = newest[0][0] if newest else b"0-0"
        for department in self.departments:
            lease = self._lease(f"{self.stream}:lease:{department}", department)
            self._spawn(self._keep(lease, self._publisher(department, lease)), f"publish-{department}")
        lease = self._lease(f"{self.stream}:{self.group}:enqueuer", None)
        self._spawn(self._keep(lease, lambda: self._enqueue_entries(enqueue)), "enqueue")
        self._spawn(self._broadcast_entries(broadcast), "broadcast")

    def head(self, department: str) -> int:
        return self._heads.get(department, 0)

    async def aclose(self, *, release: bool = True) -> None:
        """Stop; ``release=False`` leaves the leases to expire, as when a process dies."""
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        stuck: set[asyncio.Task[None]] = set()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.read_timeout)
        held, self._held = list(self._held), set()
        if release:
            for lease in held:
                try:
                    async with asyncio.timeout(self.read_timeout):
                        await lease.release()
                except REDIS_ERRORS:
                    logger.warning("change bus %s: the %s lease is left to expire", self.consumer, lease.role)
        await self._redis.aclose(close_connection_pool=True)
        if stuck:
            # Every loop ends by itself at its next turn (``_closing``), now that its connections are closed.
            logger.warning("change bus %s: %d loops did not stop in time", self.consumer, len(stuck))
            for task in stuck:
                task.cancel()

    async def _failed(self, error: BaseException) -> None:
        if self._outage.began(error):
            # Idle connections to the Redis that failed would each fail once more after it is back, as if a
            # new outage began: drop them, so that they connect afresh. Those in use fail and are dropped now.
            with contextlib.suppress(*REDIS_ERRORS):
                await self._redis.connection_pool.disconnect(inuse_connections=False)

    def _lease(self, key: str, department: str | None) -> Lease:
        return Lease(self._redis, key, self.token, self.lock_ttl, department)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=f"govgraph-bus-{name}"))

    async def _keep(self, lease: Lease, work: Callable[[], Awaitable[None]]) -> None:
        """Until closed: take the lease when it is free, and do ``work`` while holding it."""
        failures = 0
        while not self._closing:
            try:
                held = await lease.acquire()
                self._outage.over()
                if not held:
                    await asyncio.sleep(self.lock_ttl / 3 * (1 + JITTER * random.random()))
                    continue
                failures = 0
                await self._hold(lease, work)
                continue
            except LeaseLost:
                logger.warning("change bus %s: lost the %s lease", self.consumer, lease.role)
                continue
            except ResponseError as error:
                logger.error("change bus %s: Redis refused a command: %s", self.consumer, describe(error))
            except REDIS_ERRORS as error:
                await self._failed(error)
            except Exception as error:  # a fault of ours must not end the loop for the process's lifetime
                logger.error(
                    "change bus %s: %s loop failed: %s: %s",
                    self.consumer,
                    lease.role,
                    type(error).__name__,
                    describe(error),
                )
            await pause(failures, self.backoff)
            failures += 1

    async def _hold(self, lease: Lease, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` while renewing the lease; ``LeaseLost`` when it passed to another process."""
        self._held.add(lease)
        task = asyncio.ensure_future(work())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.lock_ttl / 3)
                if done:
                    task.result()
                    return
                if not await lease.renew():
                    raise LeaseLost()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if not self._closing:
                self._held.discard(lease)
                with contextlib.suppress(*REDIS_ERRORS):
                    await lease.release()

    def _publisher(self, department: str, lease: Lease) -> Callable[[], Awaitable[None]]:
        async def start() -> int:
            cursor = await self.cursor(department)
            return await self.latest(department) if cursor is None else cursor

        async def publish(change: Change) -> None:
            fields = [value for pair in entry_fields(change).items() for value in pair]
            waits = 0
            while True:
                published = int(
                    await self._publish(
                        keys=[lease.key, self._published_key, self.stream],
                        args=[
                            self.token,
                            department,
                            change.id,
                            self.maxlen,
                            self.group,
                            self.backlog,
                            *fields,
                        ],
                    )
                )
                if published == LEASE_NOT_HELD:
                    raise LeaseLost()
                if published != BACKLOGGED:
                    break
                if not waits:
                    logger.warning(
                        "change bus %s: %d changes wait to be enqueued for webhooks; publishing %s waits too, "
                        "so that the stream is never trimmed past them",
                        self.consumer,
                        self.backlog,
                        department,
                    )
                await pause(waits, self.backoff)
                waits += 1
            if waits:
                logger.warning("change bus %s: publishing %s again", self.consumer, department)

        async def run() -> None:
            last = await self._redis.hget(self._published_key, department)
            if last is None:
                logger.info("change bus %s: publishing %s from its cursor", self.consumer, department)
            await follow(
                department,
                self.feeds,
                self.latest,
                start,
                publish,
                after=None if last is None else int(last),
                backoff=self.backoff,
                timeout=self.read_timeout,
            )

        return run

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="$", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def _enqueue_entries(self, enqueue: Handler) -> None:
        await self._ensure_group()
        start: Any = "0-0"
        while True:  # first what a predecessor, or this process before an outage, left pending
            claimed = await self._redis.xautoclaim(
                self.stream, self.group, self.consumer, 0, start, count=BATCH
            )
            start, entries, deleted = claimed[0], claimed[1], claimed[2] if len(claimed) > 2 else []
            if deleted:
                logger.error(
                    "change bus %s: %d pending changes were trimmed from the stream before they were enqueued",
                    self.consumer,
                    len(deleted),
                )
            await self._enqueue_batch(entries, enqueue)
            if start in (b"0-0", "0-0"):
                break
        while not self._closing:
            try:
                async with asyncio.timeout(self._read_bound):
                    response = await self._redis.xreadgroup(
                        self.group, self.consumer, {self.stream: ">"}, count=BATCH, block=self.block_ms
                    )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await self._ensure_group()  # Redis lost it: entries from now on reach the group
                continue
            self._outage.over()
            for _stream, entries in response or ():
                await self._enqueue_batch(entries, enqueue)

    async def _enqueue_batch(self, entries: list[Any], enqueue: Handler) -> None:
        for entry_id, fields in entries:
            change = entry_change(fields)
            if change is None:
                logger.error(
                    "change bus %s: stream entry %r is not a change; skipped", self.consumer, entry_id
                )
            else:
                await retry_enqueue(enqueue, change, self.backoff, self.handler_timeout)
            await self._redis.xack(self.stream, self.group, entry_id)

    async def _broadcast_entries(self, broadcast: Handler) -> None:
        failures = 0
        while not self._closing:
            try:
                if self._joined is None:
                    newest = await self._redis.xrevrange(self.stream, count=1)
                    self._joined = newest[0][0] if newest else b"0-0"
                async with asyncio.timeout(self._read_bound):
                    response = await self._redis.xread(
                        {self.stream: self._joined}, count=BATCH, block=self.block_ms
                    )
                self._outage.over()
                failures = 0
                for _stream, entries in response or ():
                    for entry_id, fields in entries:
                        self._joined = entry_id
                        await self._broadcast(broadcast, fields)
                continue
            except REDIS_ERRORS as error:
                await self._failed(error)
            except Exception as error:  # a fault of ours must not end broadcasts for the process's lifetime
                logger.error(
                    "change bus %s: broadcast loop failed: %s: %s",
                    self.consumer,
                    type(error).__name__,
                    describe(error),
                )
            await pause(failures, self.backoff)
            failures += 1

    async def _broadcast(self, broadcast: Handler, fields: dict[bytes, bytes]) -> None:
        change = entry_change(fields)
        if change is None or change.id <= self.head(change.department):
            return
        self._heads[change.department] = change.id
        await try_broadcast(broadcast, change, self.handler_timeout)
