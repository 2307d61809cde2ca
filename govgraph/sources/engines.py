"""``Engines``: one connection pool per department database.

Departments that live in one database (the demo loads all six into one
PostgreSQL database, one schema each) share a pool instead of holding
``max_concurrency`` connections each, so the connections a process opens
follow a budget (``GOVGRAPH_POOL_SIZE`` per database; see ``connections.py``).

- PostgreSQL: an asyncpg pool, used directly; SQLAlchemy's row and pool
  layers cost as much again as the query for the small, hot reads govgraph
  makes. SQLAlchemy's dialect is kept only to quote identifiers.
- SQLite: a SQLAlchemy engine over aiosqlite, whose pool keeps the read
  connections warm; queries go to the raw aiosqlite connection.

Each pool has a slot semaphore of its own size: a query first waits for a
slot, inside govgraph, and only then takes a connection, which is then
always free. That wait is govgraph's, bounded by the request's deadline;
the department's timeout starts when its connection is in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgresql_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass
class SharedEngine:
    url: str
    slots: asyncio.Semaphore
    size: int
    dialect: Dialect
    engine: AsyncEngine | None = None
    """SQLite only."""
    pool: asyncpg.Pool | None = None
    """PostgreSQL only."""
    users: int = 0

    @property
    def postgres(self) -> bool:
        return self.pool is not None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A driver connection: asyncpg's, or the aiosqlite one under SQLAlchemy's pool."""
        if self.pool is not None:
            connection = await self.pool.acquire()
            try:
                yield connection
            except asyncpg.PostgresError:
                raise  # the server answered: the connection is in step and goes back to the pool
            except BaseException:
                # Cut off mid-query (a timeout, a cancelled request, a broken link): a graceful
                # release would wait for the query to be cancelled through the same stalled link.
                connection.terminate()
                raise
            finally:
                await self.pool.release(connection)
            return
        assert self.engine is not None
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            yield raw.driver_connection


class Engines:
    def __init__(self, pool_size: int = 8, connect_timeout: float = 5.0) -> None:
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self._engines: dict[str, SharedEngine] = {}

    async def open(self, url: str) -> SharedEngine:
        shared = self._engines.get(url)
        if shared is None:
            slots = asyncio.Semaphore(self.pool_size)
            if url.startswith("postgresql"):
                pool = await asyncpg.create_pool(
                    "postgresql://" + url.split("://", 1)[1],
                    min_size=0,
                    max_size=self.pool_size,
                    timeout=self.connect_timeout,
                    reset=_read_only_session,
                )
                shared = SharedEngine(url, slots, self.pool_size, postgresql_dialect(), pool=pool)
            else:
                engine = create_async_engine(url, **self._sqlite_options(url))
                shared = SharedEngine(url, slots, self.pool_size, engine.dialect, engine=engine)
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
            if shared.pool is not None:
                await shared.pool.close()
            if shared.engine is not None:
                await shared.engine.dispose()

    def sizes(self) -> dict[str, int]:
        """URL → pool size, for the connection budget."""
        return {url: shared.size for url, shared in self._engines.items()}

    def _sqlite_options(self, url: str) -> dict[str, Any]:
        options: dict[str, Any] = {"pool_pre_ping": False, "connect_args": {"timeout": self.connect_timeout}}
        if ":memory:" not in url:
            options.update(pool_size=self.pool_size, max_overflow=0)
        return options


async def _read_only_session(connection: asyncpg.Connection) -> None:
    """Sources only read, in autocommit, and never change session state: nothing to reset between
    uses, which spares a round trip per query."""
