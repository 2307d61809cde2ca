"""``MemorySource``: a real implementation of the source protocol over dicts.

For unit tests of loaders and resolvers, passed in like any other source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row


class MemorySource:
    def __init__(
        self, department: str, tables: Mapping[str, Sequence[Row]], max_keys_per_query: int = 1000
    ) -> None:
        self.department = department
        self.max_keys_per_query = max_keys_per_query
        self.tables = {name: list(rows) for name, rows in tables.items()}
        self.queries: list[tuple[str, str, tuple[Any, ...]]] = []
        self.available = True

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def check(self) -> None:
        if not self.available:
            raise SourceUnavailable(self.department)

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        rows = self._select(table, key_column, keys)
        return {row[key_column]: {column: row.get(column) for column in columns} for row in rows}

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        grouped: dict[Any, list[Row]] = {}
        for row in self._select(table, match_column, keys):
            grouped.setdefault(row[match_column], []).append({column: row.get(column) for column in columns})
        return grouped

    async def scan(
        self, table: str, key_column: str, *, equals: Mapping[str, Any], after: Any | None, limit: int
    ) -> list[Any]:
        if not self.available:
            raise SourceUnavailable(self.department)
        self.queries.append((table, key_column, ()))
        keys = sorted(
            row[key_column]
            for row in self.tables.get(table, [])
            if all(row.get(column) == value for column, value in equals.items())
            and (after is None or row[key_column] > after)
        )
        return keys[:limit]

    def _select(self, table: str, column: str, keys: Sequence[Any]) -> list[Row]:
        if not self.available:
            raise SourceUnavailable(self.department)
        self.queries.append((table, column, tuple(keys)))
        wanted = set(keys)
        return [row for row in self.tables.get(table, []) if row.get(column) in wanted]
