"""``KeyedSelect``: a department's rows for many keys, straight through the database driver.

The SQLAlchemy row path costs about as much again as the query itself for a
thousand rows, so the hot reads (rows by key, rows by a match column) go to
the driver: on PostgreSQL one statement per (table, columns) with
``= ANY($1)``, which asyncpg prepares once per connection and reuses; on
SQLite one statement with ``IN (SELECT value FROM json_each(?))``, so the
text never changes with the number of keys. Values pass through the same
result processors SQLAlchemy would apply (dates from SQLite text, booleans
from integers), so both paths return the same Python values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from govgraph.sources.base import Row

Processor = Callable[[Any], Any] | None


def _native(type_: sa.types.TypeEngine[Any]) -> Processor:
    """asyncpg returns Python values already; only a ``numeric`` column read as a catalog Float or Int
    needs what SQLAlchemy's Float and Integer would do to it."""
    if isinstance(type_, sa.Float):
        return _as_float
    if isinstance(type_, sa.Integer):
        return _as_int
    return None


def _as_float(value: Any) -> Any:
    return value if type(value) is float else float(value)


def _as_int(value: Any) -> Any:
    return value if type(value) is int else int(value)


@dataclass(frozen=True, slots=True)
class KeyedSelect:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    postgres: bool
    columns: frozenset[str]
    """``names`` as a set: what every row holds."""

    @classmethod
    def build(
        cls,
        dialect: Dialect,
        table: sa.Table,
        match: str,
        columns: Sequence[str],
        *,
        ordered: bool = False,
    ) -> KeyedSelect:
        """Rows of ``table`` whose ``match`` column holds one of the keys: the match column first."""
        quote = dialect.identifier_preparer.quote
        names = (match, *(column for column in columns if column != match))
        source = ".".join(quote(part) for part in (table.schema, table.name) if part)
        selected = ", ".join(quote(name) for name in names)
        postgres = dialect.name == "postgresql"
        condition = (
            f"{quote(match)} = ANY($1)" if postgres else f"{quote(match)} IN (SELECT value FROM json_each(?))"
        )
        sql = f"SELECT {selected} FROM {source} WHERE {condition}"
        if ordered:
            sql += " ORDER BY " + ", ".join(quote(name) for name in names)
        if postgres:
            processors = tuple(_native(table.c[name].type) for name in names)
        else:
            processors = tuple(
                table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in names
            )
        return cls(sql, names, processors, postgres, frozenset(names))

    async def fetch(self, driver: Any, keys: Sequence[Any]) -> list[Row]:
        """Rows holding exactly ``names``: asyncpg's records as they are (read by name like a mapping,
        and never written to) where no value needs processing, dicts otherwise."""
        if self.postgres:
            records = await driver.fetch(self.sql, list(keys))
            if not any(self.processors):
                return records  # type: ignore[no-any-return]
        else:
            records = await driver.execute_fetchall(self.sql, (json.dumps(list(keys)),))
        names = self.names
        if not any(self.processors):
            # The statement selects exactly ``names``, in order: no length check needed per record.
            return [dict(zip(names, record, strict=False)) for record in records]
        processors = self.processors
        return [
            {
                name: value if process is None or value is None else process(value)
                for name, process, value in zip(names, processors, record, strict=True)
            }
            for record in records
        ]


@dataclass(frozen=True, slots=True)
class ScanSelect:
    """A page of keys in key order, after a cursor, whose columns equal given values."""

    sql: str
    postgres: bool

    @classmethod
    def build(
        cls, dialect: Dialect, table: sa.Table, key: str, equals: Sequence[str], *, after: bool
    ) -> ScanSelect:
        quote = dialect.identifier_preparer.quote
        postgres = dialect.name == "postgresql"
        source = ".".join(quote(part) for part in (table.schema, table.name) if part)
        conditions = [f"{quote(column)} = {{}}" for column in equals]
        if after:
            conditions.append(f"{quote(key)} > {{}}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        template = f"SELECT {quote(key)} FROM {source}{where} ORDER BY {quote(key)} LIMIT {{}}"
        count = template.count("{}")
        placeholders = [f"${index}" for index in range(1, count + 1)] if postgres else ["?"] * count
        return cls(template.format(*placeholders), postgres)

    async def keys(self, driver: Any, parameters: Sequence[Any]) -> list[Any]:
        if self.postgres:
            return [record[0] for record in await driver.fetch(self.sql, *parameters)]
        return [record[0] for record in await driver.execute_fetchall(self.sql, tuple(parameters))]


def probe(dialect: Dialect, table: sa.Table) -> str:
    """A statement that succeeds only if the table answers."""
    quote = dialect.identifier_preparer.quote
    return f"SELECT 1 FROM {'.'.join(quote(part) for part in (table.schema, table.name) if part)} LIMIT 1"
