"""``SqlSource``: one adapter for department databases on SQLite and PostgreSQL.

The same code serves ``sqlite+aiosqlite`` and ``postgresql+asyncpg`` URLs.
Tables are declared once, with SQLAlchemy, from the catalog's column types;
statements are built from them once and run on the driver (see
``statements.py``), so dates, booleans and numbers come back as the same
Python values from both.

Time is split in two. Waiting for a slot (the department's concurrency
limit, then its database's pool) is govgraph's own queue: it is bounded by
the request's deadline and is never the department's fault. The
department's ``timeout`` starts when the connection is in hand and covers
only its own answer; only that counts towards its circuit breaker.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError

from govgraph.diagnostics import describe
from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row, Rows
from govgraph.sources.engines import Engines, SharedEngine
from govgraph.sources.statements import KeyedSelect, ScanSelect, probe

logger = logging.getLogger("govgraph.sources")

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""What a department's database or its driver may raise: each is the department's failure."""

SQL_TYPES: dict[str, type[sa.types.TypeEngine[Any]]] = {
    "String": sa.Text,
    "IdNumber": sa.Text,
    "CreditCode": sa.Text,
    "Int": sa.Integer,
    "Float": sa.Float,
    "Boolean": sa.Boolean,
    "Date": sa.Date,
}

# asyncpg refuses more than 32767 parameters per statement; stay well below
# on every dialect so one chunk size fits both.
MAX_KEYS_PER_QUERY = 5000


class SqlSource:
    def __init__(
        self,
        department: str,
        url: str,
        tables: Mapping[str, Mapping[str, str]],
        *,
        db_schema: str | None = None,
        timeout: float = 5.0,
        max_concurrency: int = 8,
        max_keys_per_query: int = MAX_KEYS_PER_QUERY,
        engines: Engines | None = None,
    ) -> None:
        self.department = department
        self.max_keys_per_query = max_keys_per_query
        self.timeout = timeout
        self._url = url
        self._engines = engines or Engines(pool_size=max_concurrency)
        self._shared: SharedEngine | None = None
        self._metadata = sa.MetaData(schema=db_schema)
        self._tables = {
            name: sa.Table(
                name,
                self._metadata,
                *(sa.Column(column, SQL_TYPES[type_name]) for column, type_name in columns.items()),
            )
            for name, columns in tables.items()
        }
        self._slots = asyncio.Semaphore(max_concurrency)
        self._statements: dict[tuple[Any, ...], KeyedSelect | ScanSelect] = {}
        self.queries = 0
        """Statements sent to the department since start-up."""

    async def open(self) -> None:
        self._shared = await self._engines.open(self._url)

    async def close(self) -> None:
        if self._shared is not None:
            self._shared = None
            await self._engines.release(self._url)

    async def check(self) -> None:
        """Every table govgraph reads answers (a reachable database missing a table is not ready)."""
        for table in self._tables.values():
            await self._run(_probe, self._connected().dialect, table)

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        statement = self._keyed(table, key_column, columns, ordered=False)
        rows = await self._run(statement.fetch, keys)
        found = Rows(columns=statement.columns)
        found.update((row[key_column], row) for row in rows)
        return found

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        statement = self._keyed(table, match_column, columns, ordered=True)
        rows = await self._run(statement.fetch, keys)
        grouped: dict[Any, list[Row]] = {}
        for row in rows:
            grouped.setdefault(row[match_column], []).append(row)
        return grouped

    async def scan(
        self, table: str, key_column: str, *, equals: Mapping[str, Any], after: Any | None, limit: int
    ) -> list[Any]:
        columns = sorted(equals)
        statement_key = ("scan", table, key_column, tuple(columns), after is not None)
        statement = self._statements.get(statement_key)
        if not isinstance(statement, ScanSelect):
            statement = ScanSelect.build(
                self._connected().dialect, self._tables[table], key_column, columns, after=after is not None
            )
            self._statements[statement_key] = statement
        parameters = [equals[column] for column in columns]
        if after is not None:
            parameters.append(after)
        return await self._run(statement.keys, [*parameters, limit])  # type: ignore[no-any-return]

    def _keyed(self, table: str, match: str, columns: Sequence[str], *, ordered: bool) -> KeyedSelect:
        """The statement for rows by key (or match column): one per (table, match, columns)."""
        statement_key = (table, match, tuple(columns), ordered)
        statement = self._statements.get(statement_key)
        if not isinstance(statement, KeyedSelect):
            statement = KeyedSelect.build(
                self._connected().dialect, self._tables[table], match, columns, ordered=ordered
            )
            self._statements[statement_key] = statement
        return statement

    def _connected(self) -> SharedEngine:
        if self._shared is None:
            raise SourceUnavailable(self.department, "not connected")
        return self._shared

    async def _run(self, work: Callable[..., Awaitable[Any]], *arguments: Any) -> Any:
        """``work(driver connection, *arguments)`` within the department's limits."""
        shared = self._connected()
        # govgraph's own queue: bounded by the request's deadline (the loaders'), not the department's timeout.
        async with self._slots, shared.slots:
            try:
                async with asyncio.timeout(self.timeout), shared.connection() as driver:
                    self.queries += 1
                    return await work(driver, *arguments)
            except TimeoutError:
                logger.warning("department %s timed out after %.1fs", self.department, self.timeout)
                raise SourceUnavailable(self.department, "timed out") from None
            except DRIVER_ERRORS as error:
                logger.warning("department %s failed: %s", self.department, describe(error))
                raise SourceUnavailable(self.department) from None


async def _probe(driver: Any, dialect: Dialect, table: sa.Table) -> None:
    statement = probe(dialect, table)
    if dialect.name == "postgresql":
        await driver.fetch(statement)
    else:
        await driver.execute_fetchall(statement)
