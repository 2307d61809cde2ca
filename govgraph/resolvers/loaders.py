"""Per-request loaders: the one place where batching and chunking live.

A loader exists per (department, table, column, selected columns) for one
request. Every key asked for within one tick goes to the source as one
``IN (...)`` query, chunked at the source's ``max_keys_per_query``. Loaders
for different departments dispatch independently, so departments are
fetched concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from govgraph.sources.base import Row, Source

LoaderKey = tuple[str, str, str, tuple[str, ...]]


class Loaders:
    def __init__(self, sources: Mapping[str, Source]) -> None:
        self._sources = sources
        self._rows: dict[LoaderKey, DataLoader[Any, Row | None]] = {}
        self._lookups: dict[LoaderKey, DataLoader[Any, list[Row]]] = {}

    def rows(
        self, department: str, table: str, key_column: str, columns: tuple[str, ...]
    ) -> DataLoader[Any, Row | None]:
        loader_key = (department, table, key_column, columns)
        loader = self._rows.get(loader_key)
        if loader is None:
            source = self._sources[department]

            async def load(keys: Sequence[Any]) -> list[Row | None]:
                found = await source.fetch(table, key_column, columns, keys)
                return [found.get(key) for key in keys]

            loader = DataLoader(load, max_batch_size=source.max_keys_per_query)
            self._rows[loader_key] = loader
        return loader

    async def scan(
        self,
        department: str,
        table: str,
        key_column: str,
        *,
        equals: Mapping[str, Any],
        after: Any | None,
        limit: int,
    ) -> list[Any]:
        """One page of keys in key order; pages are not batched, each is one query."""
        return await self._sources[department].scan(
            table, key_column, equals=equals, after=after, limit=limit
        )

    def lookup(
        self, department: str, table: str, match_column: str, columns: tuple[str, ...]
    ) -> DataLoader[Any, list[Row]]:
        loader_key = (department, table, match_column, columns)
        loader = self._lookups.get(loader_key)
        if loader is None:
            source = self._sources[department]

            async def load(keys: Sequence[Any]) -> list[list[Row]]:
                found = await source.lookup(table, match_column, columns, keys)
                return [found.get(key, []) for key in keys]

            loader = DataLoader(load, max_batch_size=source.max_keys_per_query)
            self._lookups[loader_key] = loader
        return loader
