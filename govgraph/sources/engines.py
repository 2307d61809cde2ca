"""``Engines``: one SQLAlchemy engine, and one connection pool, per database URL.

Departments that live in one database (the demo loads all six into one
PostgreSQL database, one schema each) share a pool instead of holding
``max_concurrency`` connections each, so the connections a process opens
follow a budget (``GOVGRAPH_POOL_SIZE`` per database; see ``budget.py``).

Each pool has a slot semaphore of its own size: a query first waits for a
slot, inside govgraph, and only then takes a connection, which is then
always free. That wait is govgraph's, bounded by the request's deadline;
the department's timeout starts when its connection is in hand.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass
class SharedEngine:
    engine: AsyncEngine
    slots: asyncio.Semaphore
    size: int
    users: int = 0


class Engines:
    def __init__(self, pool_size: int = 8, connect_timeout: float = 5.0) -> None:
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._engines: dict[str, SharedEngine] = {}

    def open(self, url: str) -> SharedEngine:
        shared = self._engines.get(url)
        if shared is None:
            engine = create_async_engine(url, **self._options(url))
            shared = SharedEngine(engine, asyncio.Semaphore(self.pool_size), self.pool_size)
            self._engines[url] = shared
        shared.users += 1
        return shared

    async def release(self, url: str) -> None:
        shared = self._engines.get(url)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del self._engines[url]
            await shared.engine.dispose()

    def sizes(self) -> dict[str, int]:
        """URL → pool size, for the connection budget."""
        return {url: shared.size for url, shared in self._engines.items()}

    def _options(self, url: str) -> dict[str, Any]:
        options: dict[str, Any] = {"pool_pre_ping": False, "connect_args": {"timeout": self.connect_timeout}}
        if ":memory:" not in url:
            options.update(pool_size=self.pool_size, max_overflow=0)
        return options
