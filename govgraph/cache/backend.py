"""govgraph's small cache interface, and its two backends.

- ``MemoryBackend``: in-process, bounded in entries (least recently written
  go first), expiry checked on read. aiocache's own memory cache is
  unbounded and keeps one timer per key, so a long-running process would
  grow without limit; this one cannot.
- ``RedisBackend``: aiocache's Redis cache (``GOVGRAPH_CACHE_URL=redis://...``),
  shared by every process, with a serializer that round-trips dates,
  decimals and None exactly. Its pool is bounded and every wait has a
  deadline; when Redis fails, reads raise ``CacheUnavailable`` (the row
  cache then reads the departments directly) and writes are skipped, and
  Redis is left alone for a few seconds before it is tried again.

Both take and return whole entries in batches: one round trip for many keys.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiocache import RedisCache

from govgraph.cache.serializer import RowSerializer
from govgraph.redis_connections import REDIS_ERRORS, RedisHealth, pool_options


class CacheUnavailable(Exception):
    """The shared cache cannot be read now; read the departments instead."""


class CacheBackend(Protocol):
    name: str

    async def multi_get(self, keys: Sequence[str]) -> list[Any]: ...

    async def multi_set(self, items: Sequence[tuple[str, Any]], ttl: int) -> None: ...

    async def delete(self, keys: Sequence[str]) -> int: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    async def close(self) -> None: ...


class MemoryBackend:
    name = "memory"

    def __init__(self, max_entries: int = 100_000, clock: Any = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def multi_get(self, keys: Sequence[str]) -> list[Any]:
        now = self._clock()
        entries = self._entries
        values = []
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry[0] <= now:
                values.append(None)
            else:
                values.append(entry[1])
        return values

    async def multi_set(self, items: Sequence[tuple[str, Any]], ttl: int) -> None:
        expires = self._clock() + ttl
        entries = self._entries
        for key, value in items:
            if key in entries:
                entries.move_to_end(key)  # a new key is put at the end by the assignment itself
            entries[key] = (expires, value)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    async def delete(self, keys: Sequence[str]) -> int:
        return sum(self._entries.pop(key, None) is not None for key in keys)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        return await self.delete(doomed)

    async def close(self) -> None:
        self._entries.clear()


class RedisBackend:
    name = "redis"

    def __init__(
        self, url: str, *, pool_size: int = 32, timeout: float = 2.0, retry_after: float = 5.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError("GOVGRAPH_CACHE_URL must be a redis:// or rediss:// URL")
        database = int(parts.path.lstrip("/") or 0)
        self._cache = RedisCache(
            serializer=RowSerializer(),
            endpoint=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=database,
            password=parts.password,
            timeout=timeout,
            **pool_options(pool_size, timeout),
        )
        self.health = RedisHealth("row cache", retry_after)

    async def multi_get(self, keys: Sequence[str]) -> list[Any]:
        if not keys:
            return []
        if not self.health.usable:
            raise CacheUnavailable()
        try:
            values = await self._cache.multi_get(list(keys))
        except REDIS_ERRORS as error:
            self.health.failed(error)
            raise CacheUnavailable() from None
        self.health.succeeded()
        return values

    async def multi_set(self, items: Sequence[tuple[str, Any]], ttl: int) -> None:
        if not items or not self.health.usable:
            return
        try:
            await self._cache.multi_set(list(items), ttl=ttl)
        except REDIS_ERRORS as error:
            self.health.failed(error)

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        try:
            return int(await self._cache.client.delete(*keys))
        except REDIS_ERRORS as error:
            self.health.failed(error)
            raise CacheUnavailable() from None

    async def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        pattern = _escape_glob(prefix) + "*"
        batch: list[Any] = []
        try:
            async for key in self._cache.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += int(await self._cache.client.delete(*batch))
                    batch = []
            if batch:
                deleted += int(await self._cache.client.delete(*batch))
        except REDIS_ERRORS as error:
            self.health.failed(error)
            raise CacheUnavailable() from None
        return deleted

    async def close(self) -> None:
        await self._cache.close()


def _escape_glob(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def backend_for(
    url: str | None, max_entries: int, *, pool_size: int = 32, timeout: float = 2.0
) -> CacheBackend:
    if url is None or url == "memory://":
        return MemoryBackend(max_entries)
    return RedisBackend(url, pool_size=pool_size, timeout=timeout)
