"""Drop cache entries the moment a department's data changes.

A department's PostgreSQL trigger can ``NOTIFY govgraph_invalidate`` with
``{"department": ..., "entity": ..., "key": ...}``; every govgraph process
listening drops that key's entries at once. ``govgraph cache invalidate``
does the same by hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

import asyncpg

from govgraph.cache.backend import CacheUnavailable
from govgraph.cache.rows import RowCache

logger = logging.getLogger("govgraph.cache")

CHANNEL = "govgraph_invalidate"


class InvalidationListener:
    def __init__(self, cache: RowCache, urls: Iterable[str]) -> None:
        self.cache = cache
        self.urls = sorted({_asyncpg_dsn(url) for url in urls if url.startswith("postgresql")})
        self._connections: list[asyncpg.Connection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.received = 0

    async def start(self) -> None:
        for dsn in self.urls:
            try:
                connection = await asyncpg.connect(dsn, timeout=5)
            except (OSError, asyncpg.PostgresError) as error:
                logger.error("cannot LISTEN for cache invalidation: %s", type(error).__name__)
                continue
            await connection.add_listener(CHANNEL, self._notified)
            self._connections.append(connection)

    async def stop(self) -> None:
        for connection in self._connections:
            await connection.close()
        self._connections.clear()
        for task in list(self._tasks):
            task.cancel()

    def _notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            department, key = str(message["department"]), message.get("key")
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed %s notification", CHANNEL)
            return
        task = asyncio.get_running_loop().create_task(self._drop(department, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, department: str, key: object) -> None:
        try:
            await self.cache.invalidate(department, None if key is None else str(key))
        except CacheUnavailable:
            logger.error("cache invalidation for %s could not reach the shared cache", department)
        self.received += 1


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]
