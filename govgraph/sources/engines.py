"""``Engines``: one connection pool per department database.

Departments that live in one database (the demo loads all six into one
PostgreSQL database, one schema each) share a pool instead of holding
``max_concurrency`` connections each, so the connections a process opens
follow a budget (``GOVGRAPH_POOL_SIZE`` per database; see ``connections.py``).

- PostgreSQL: asyncpg connections, kept in a ``ConnectionPool`` of their
  own. SQLAlchemy's row and pool layers cost as much again as the query for
  the small, hot reads govgraph makes, and asyncpg's own pool adds a task
  and a proxy to every use; the slot semaphore already bounds how many
  connections are out, so keeping the idle ones is all a pool has left to
  do. SQLAlchemy's dialect is kept only to quote identifiers.
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
import os
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgresql_dialect
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass
class SharedEngine:
    url: str
    slots: asyncio.Semaphore
    size: int
    dialect: Dialect
    engine: AsyncEngine | None = None
    """SQLite only."""
    pool: ConnectionPool | None = None
    """PostgreSQL only."""
    users: int = 0

    @property
    def postgres(self) -> bool:
        return self.pool is not None

    def connection(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A driver connection: asyncpg's, or the aiosqlite one under SQLAlchemy's pool."""
        if self.pool is not None:
            return _Lease(self.pool)
        return self._sqlite_connection()

    @contextlib.asynccontextmanager
    async def _sqlite_connection(self) -> AsyncIterator[Any]:
        assert self.engine is not None
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            yield raw.driver_connection


class _Lease:
    """A connection out of the pool for one query (a class, not a generator: this is the hot path)."""

    __slots__ = ("connection", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self.connection = await self.pool.acquire()
        return self.connection

    async def __aexit__(self, error_type: type[BaseException] | None, error: Any, traceback: Any) -> None:
        connection = self.connection
        assert connection is not None
        if error_type is not None and not issubclass(error_type, asyncpg.PostgresError):
            # Cut off mid-query (a timeout, a cancelled request, a broken link): the connection is out
            # of step with its server, so it is dropped, never waited on. A PostgreSQL error is an
            # answer: that connection is in step and goes back.
            connection.terminate()
        self.pool.release(connection)


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
                pool = ConnectionPool(
                    "postgresql://" + url.split("://", 1)[1], self.pool_size, self.connect_timeout
                )
                shared = SharedEngine(url, slots, self.pool_size, postgresql_dialect(), pool=pool)
            else:
                engine = create_async_engine(existing_sqlite_file(url), **self._sqlite_options(url))
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


def existing_sqlite_file(url: str, mode: Literal["rw", "ro"] = "rw") -> URL:
    """A SQLite URL that opens only a file that exists: a department's database is never govgraph's to
    create, and an empty one made in its place would hide a wrong path behind "no such table"."""
    parsed = make_url(url)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return parsed
    path = urllib.parse.quote(os.path.abspath(database), safe="/")
    return parsed.set(database=f"file:{path}", query={**parsed.query, "mode": mode, "uri": "true"})


class ConnectionPool:
    """Idle asyncpg connections for reuse. Callers hold a slot of the engine's semaphore (of the same
    size) while a connection is out, so at most ``size`` exist.

    Sources only read, in autocommit, and never change session state: a connection goes back as it
    is, with no reset, which spares a round trip per query. One that closed or was terminated is
    dropped and replaced by a new connection when next needed."""

    def __init__(self, dsn: str, size: int, connect_timeout: float) -> None:
        self.dsn = dsn
        self.size = size
        self.connect_timeout = connect_timeout
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    async def acquire(self) -> asyncpg.Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
        return await asyncpg.connect(self.dsn, timeout=self.connect_timeout)

    def release(self, connection: asyncpg.Connection) -> None:
        if connection.is_closed():
            return
        if self._closed or len(self._idle) >= self.size:
            connection.terminate()
            return
        self._idle.append(connection)

    async def close(self) -> None:
        """Close the idle connections (politely, for a moment); those still out are dropped when they
        come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.close(), self.connect_timeout)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()
