"""``RowCache``: raw department rows between the per-request loaders and the sources.

Keyed by department, table, column group (or lookup) and key — never by
role or principal; masking and verification happen after, per request. A
batch of keys costs one ``multi_get``; the misses one source query; the
refill one ``multi_set`` per column group. ``realtime`` columns always go
to the source. When a source fails, an expired entry still within the
department's ``stale_if_error`` window is served, marked stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from govgraph.cache.backend import CacheBackend
from govgraph.cache.freshness import Demand, Freshness
from govgraph.cache.metrics import CacheMetrics
from govgraph.cache.policy import CachePolicy, ColumnGroup
from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row, Source

PREFIX = "gg"


def row_key(group: ColumnGroup, key: Any) -> str:
    return f"{PREFIX}:row:{group.department}:{group.table}:{group.name}:{key}"


def lookup_prefix(department: str, table: str, match: str, key: Any) -> str:
    return f"{PREFIX}:lookup:{department}:{table}:{match}:{key}:"


class RowCache:
    def __init__(
        self,
        backend: CacheBackend,
        policy: CachePolicy,
        metrics: CacheMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.metrics = metrics
        self.clock = clock

    async def fetch(
        self,
        source: Source,
        table: str,
        key_column: str,
        columns: Sequence[str],
        keys: Sequence[Any],
        demand: Demand,
        freshness: Freshness,
    ) -> dict[Any, Row]:
        department = source.department
        split = self.policy.split(department, table, columns)
        now = self.clock()
        cached: dict[tuple[int, Any], list[Any]] = {}
        if split.groups and not demand.no_cache:
            cache_keys = [row_key(group, key) for group in split.groups for key in keys]
            values = iter(await self.backend.multi_get(cache_keys))
            for index in range(len(split.groups)):
                for key in keys:
                    value = next(values)
                    if value is not None:
                        cached[(index, key)] = value
        fresh: dict[tuple[int, Any], list[Any]] = {}
        missing: dict[int, list[Any]] = {}
        for index, group in enumerate(split.groups):
            limit = group.ttl if demand.max_age is None else min(group.ttl, demand.max_age)
            for key in keys:
                entry = cached.get((index, key))
                if entry is not None and now - entry[0] <= limit:
                    fresh[(index, key)] = entry
                else:
                    missing.setdefault(index, []).append(key)
        hits = len(fresh)
        misses = sum(len(group_keys) for group_keys in missing.values())
        self.metrics.count(department, "hit", hits)
        self.metrics.count(department, "miss", misses)
        if split.live:
            self.metrics.count(department, "passthrough", len(keys))

        need = (
            list(keys)
            if split.live
            else list(dict.fromkeys(key for group_keys in missing.values() for key in group_keys))
        )
        live_rows: dict[Any, Row] = {}
        stale_used = False
        if need:
            fetch_columns = [
                *split.live,
                *(column for index in missing for column in split.groups[index].columns),
            ]
            try:
                live_rows = await source.fetch(table, key_column, tuple(dict.fromkeys(fetch_columns)), need)
            except SourceUnavailable:
                if split.live:
                    raise
                window = self.policy.stale_if_error.get(department, 0)
                for index, group_keys in missing.items():
                    for key in group_keys:
                        entry = cached.get((index, key))
                        if entry is None or now - entry[0] > split.groups[index].ttl + window:
                            raise
                        fresh[(index, key)] = entry
                self.metrics.count(department, "stale", misses)
                stale_used = True
                missing = {}
            else:
                await self._refill(split.groups, missing, live_rows, now, department)

        fetched_live = bool(need) and not stale_used
        result: dict[Any, Row] = {}
        oldest = now
        for key in keys:
            row: dict[str, Any] = {}
            present = True
            for index in range(len(split.groups)):
                entry = fresh.get((index, key))
                if entry is None:
                    continue
                oldest = min(oldest, entry[0])
                if entry[1] is None:
                    present = False
                else:
                    row.update(entry[1])
            if fetched_live and key in live_rows:
                row.update(live_rows[key])
                present = True
            elif fetched_live and (split.live or key in need):
                present = False
            if present:
                result[key] = row
        if stale_used:
            served_from = "stale"
        elif hits:
            served_from = "cache"
        else:
            served_from = "live"
        max_age = None if split.live else min((group.ttl for group in split.groups), default=None)
        freshness.record(department, oldest, served_from, max_age)
        return result

    async def lookup(
        self,
        source: Source,
        table: str,
        match: str,
        columns: Sequence[str],
        keys: Sequence[Any],
        demand: Demand,
        freshness: Freshness,
    ) -> dict[Any, list[Row]]:
        department = source.department
        ttl = self.policy.lookup_ttl(department, table, match)
        if ttl is None:
            self.metrics.count(department, "passthrough", len(keys))
            found = await source.lookup(table, match, columns, keys)
            freshness.record(department, self.clock(), "live", None)
            return found
        now = self.clock()
        suffix = ",".join(columns)
        cache_keys = [lookup_prefix(department, table, match, key) + suffix for key in keys]
        values = [None] * len(keys) if demand.no_cache else await self.backend.multi_get(cache_keys)
        limit = ttl if demand.max_age is None else min(ttl, demand.max_age)
        result: dict[Any, list[Row]] = {}
        missing: list[Any] = []
        stale: dict[Any, list[Any]] = {}
        oldest = now
        for key, entry in zip(keys, values, strict=True):
            if entry is not None and now - entry[0] <= limit:
                result[key] = entry[1]
                oldest = min(oldest, entry[0])
            else:
                missing.append(key)
                if entry is not None:
                    stale[key] = entry
        self.metrics.count(department, "hit", len(keys) - len(missing))
        self.metrics.count(department, "miss", len(missing))
        served_from = "cache"
        if missing:
            try:
                found = await source.lookup(table, match, columns, missing)
            except SourceUnavailable:
                window = self.policy.stale_if_error.get(department, 0)
                for key in missing:
                    entry = stale.get(key)
                    if entry is None or now - entry[0] > ttl + window:
                        raise
                    result[key] = entry[1]
                    oldest = min(oldest, entry[0])
                self.metrics.count(department, "stale", len(missing))
                served_from = "stale"
            else:
                items = []
                for key, cache_key in zip(keys, cache_keys, strict=True):
                    if key in missing:
                        rows = [dict(row) for row in found.get(key, [])]
                        items.append((cache_key, [now, rows]))
                        result[key] = rows
                await self.backend.multi_set(items, ttl + self.policy.stale_if_error.get(department, 0))
                served_from = "live"
        freshness.record(department, oldest, served_from, ttl)
        return {key: rows for key, rows in result.items() if rows}

    async def invalidate(self, department: str, key: Any | None = None) -> int:
        """Drop a department's entries, or only those of one key (whatever entity or table holds it)."""
        if key is None:
            return await self.backend.delete_prefix(
                f"{PREFIX}:row:{department}:"
            ) + await self.backend.delete_prefix(f"{PREFIX}:lookup:{department}:")
        deleted = await self.backend.delete([row_key(group, key) for group in self.policy.groups(department)])
        for table, match in self.policy.lookups(department):
            deleted += await self.backend.delete_prefix(lookup_prefix(department, table, match, key))
        return deleted

    async def _refill(
        self,
        groups: Sequence[ColumnGroup],
        missing: dict[int, list[Any]],
        live_rows: dict[Any, Row],
        now: float,
        department: str,
    ) -> None:
        window = self.policy.stale_if_error.get(department, 0)
        for index, group_keys in missing.items():
            group = groups[index]
            items = []
            for key in group_keys:
                row = live_rows.get(key)
                entry_row = None if row is None else {column: row.get(column) for column in group.columns}
                items.append((row_key(group, key), [now, entry_row]))
            await self.backend.multi_set(items, group.ttl + window)
