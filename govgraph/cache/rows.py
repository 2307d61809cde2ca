"""``RowCache``: raw department rows between the per-request loaders and the sources.

Keyed by department, table, column group (or lookup) and key, never by role;
masking and verification happen after, per request. A batch of keys costs
one ``multi_get``; the misses one source query; the refill one ``multi_set``
per column group. ``realtime`` columns always go to the source. When a
source fails, an expired entry still within the department's
``stale_if_error`` window is served, marked stale.

What a cache hit must not reveal: that somebody else read the record.

- Groups of public columns are shared by everyone, with plain time-to-live.
- Every other group is partitioned by the consumer department, so one
  department's reads never warm another's entries.
- Within a partition, entries live in fixed windows of the group's TTL
  (aligned to the epoch, or to the client's shorter ``max-age``), and the
  response shows such parts as of the window's start, served from the cache,
  whether this request filled the entry or found it. A colleague's read
  earlier in the window then looks exactly like one's own fetch. The audit
  record keeps the truth.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from govgraph.cache.backend import CacheBackend, CacheUnavailable
from govgraph.cache.freshness import Demand, Freshness
from govgraph.cache.metrics import CacheMetrics
from govgraph.cache.policy import CachePolicy, ColumnGroup
from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row, Source

PREFIX = "gg"
SHARED = "*"
NO_DEPARTMENT = "-"
"""The partition of callers with no department (anonymous callers and citizens)."""

Refill = Callable[[], Awaitable[None]]
"""Rows a fetch read, to be stored: run by the caller that asked for it to be left for later."""


def row_key(group: ColumnGroup, key: Any, partition: str) -> str:
    prefix, suffix = row_key_parts(group, partition)
    return f"{prefix}{key}{suffix}"


def row_key_parts(group: ColumnGroup, partition: str) -> tuple[str, str]:
    """What comes before and after the key in ``row_key``: built once for a batch of keys."""
    return (
        f"{PREFIX}:row:{group.department}:{group.table}:{group.name}:",
        f":{SHARED if group.shared else partition}",
    )


def lookup_prefix(department: str, table: str, match: str, key: Any) -> str:
    return f"{PREFIX}:lookup:{department}:{table}:{match}:{key}:"


def window_start(moment: float, length: float) -> float:
    if length <= 0:
        return moment
    return math.floor(moment / length) * length


class RowCache:
    def __init__(
        self,
        backend: CacheBackend,
        policy: CachePolicy,
        metrics: CacheMetrics,
        clock: Callable[[], float] = time.time,
        partitions: Sequence[str] = (),
    ) -> None:
        """``partitions``: every consumer department that may hold entries (for invalidation by key)."""
        self.backend = backend
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self.partitions = tuple(dict.fromkeys((*partitions, NO_DEPARTMENT)))
        self._changes: dict[str, int] = {}
        """Invalidations met per department. Rows read before one are never stored: a change that lands
        while they are on their way (or waiting in a caller's ``later``) is not overwritten by them."""

    async def fetch(
        self,
        source: Source,
        table: str,
        key_column: str,
        columns: Sequence[str],
        keys: Sequence[Any],
        demand: Demand,
        freshness: Freshness,
        partition: str = NO_DEPARTMENT,
        later: list[Refill] | None = None,
    ) -> dict[Any, Row]:
        """``later``: where to leave the refill for the caller to run (else it is stored before returning)."""
        department = source.department
        changes = self._changes.get(department, 0)
        split = self.policy.split(department, table, columns)
        now = self.clock()
        groups = split.groups
        limits = [group.ttl if demand.max_age is None else min(group.ttl, demand.max_age) for group in groups]
        cached: dict[tuple[int, Any], list[Any]] = {}
        unavailable = False
        if groups and not demand.no_cache:
            cache_keys = [
                f"{prefix}{key}{suffix}"
                for prefix, suffix in (row_key_parts(group, partition) for group in groups)
                for key in keys
            ]
            try:
                values = iter(await self.backend.multi_get(cache_keys))
            except CacheUnavailable:
                unavailable = True  # read the department; nothing cached can be revealed, so show it as live
                values = iter([None] * len(cache_keys))
            for index in range(len(groups)):
                for key in keys:
                    value = next(values)
                    if value is not None:
                        cached[(index, key)] = value
        fresh: dict[tuple[int, Any], list[Any]] = {}
        missing: dict[int, list[Any]] = {}
        if not cached:  # nothing found: every key is missing from every group
            missing = {index: list(keys) for index in range(len(groups))}
        else:
            for index, group in enumerate(groups):
                for key in keys:
                    entry = cached.get((index, key))
                    if entry is not None and _valid(
                        group, entry[0], now, _limit(entry, limits[index], demand)
                    ):
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
        upstream: int | None = None
        stale_used = False
        if need:
            refills = missing
            if demand.no_cache:
                # A live read asks for what it selected and no more, and refreshes only the groups it read
                # whole: an entry holds its group's every column, and a role's query is no reason to read
                # the columns of the group it may not see.
                fetch_columns = list(columns)
                selected = frozenset(columns)
                refills = {
                    index: group_keys
                    for index, group_keys in missing.items()
                    if selected.issuperset(groups[index].columns)
                }
            else:
                fetch_columns = [
                    *split.live,
                    *(column for index in missing for column in groups[index].columns),
                ]
            try:
                live_rows = await source.fetch(table, key_column, tuple(dict.fromkeys(fetch_columns)), need)
                upstream = getattr(live_rows, "max_age", None)
            except SourceUnavailable:
                if split.live:
                    raise
                window = self.policy.stale_if_error.get(department, 0)
                for index, group_keys in missing.items():
                    for key in group_keys:
                        entry = cached.get((index, key))
                        if entry is None or now - entry[0] > _own_ttl(entry, groups[index].ttl) + window:
                            raise
                        fresh[(index, key)] = entry
                self.metrics.count(department, "stale", misses)
                stale_used = True
                missing = {}
            else:
                refill = functools.partial(
                    self._refill, groups, refills, live_rows, now, department, partition, upstream, changes
                )
                if later is None:
                    await refill()
                else:
                    later.append(refill)

        fetched_live = bool(need) and not stale_used
        result: dict[Any, Row] = {}
        oldest = now
        shown_oldest = now
        if fetched_live and not fresh:
            # Every row is the department's own, as read: handed on as it is (rows are read, never written).
            result = {key: live_rows[key] for key in keys if key in live_rows}
        else:
            for key in keys:
                row: dict[str, Any] = {}
                present = True
                for index, group in enumerate(groups):
                    entry = fresh.get((index, key))
                    if entry is None:
                        continue
                    oldest = min(oldest, entry[0])
                    if group.shared or stale_used:
                        shown_oldest = min(
                            shown_oldest, entry[0] if group.shared else window_start(entry[0], group.ttl)
                        )
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
        # A client demanding live data knows it got live data, and with the cache down nothing was cached:
        # nothing else to hide.
        exact = demand.no_cache or unavailable
        partitioned = [] if exact else [index for index, group in enumerate(groups) if not group.shared]
        if partitioned and not stale_used:
            shown_oldest = min(shown_oldest, *(window_start(now, limits[index]) for index in partitioned))
        if stale_used:
            served_from = shown = "stale"
        else:
            served_from = "cache" if hits else "live"
            shown = "cache" if partitioned or hits else "live"
        max_age = None if split.live else min((group.ttl for group in groups), default=None)
        if fetched_live and upstream is not None and max_age is not None:
            max_age = upstream  # the department's own word on this answer's freshness
        freshness.record(
            department, oldest, served_from, max_age, shown_as_of=shown_oldest, shown_served_from=shown
        )
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
        partition: str = NO_DEPARTMENT,
        later: list[Refill] | None = None,
    ) -> dict[Any, list[Row]]:
        department = source.department
        changes = self._changes.get(department, 0)
        ttl = self.policy.lookup_ttl(department, table, match)
        if ttl is None:
            self.metrics.count(department, "passthrough", len(keys))
            found = await source.lookup(table, match, columns, keys)
            freshness.record(department, self.clock(), "live", None)
            return found
        shared = self.policy.lookup_shared(department, table, match)
        exact = shared or demand.no_cache  # shown as it is: public rows, or a client demanding live data
        now = self.clock()
        suffix = ",".join(columns) + ":" + (SHARED if shared else partition)
        cache_keys = [lookup_prefix(department, table, match, key) + suffix for key in keys]
        values: list[Any] = [None] * len(keys)
        if not demand.no_cache:
            try:
                values = await self.backend.multi_get(cache_keys)
            except CacheUnavailable:
                exact = True
        limit = ttl if demand.max_age is None else min(ttl, demand.max_age)
        result: dict[Any, list[Row]] = {}
        missing: list[Any] = []
        stale: dict[Any, list[Any]] = {}
        oldest = now
        for key, entry in zip(keys, values, strict=True):
            valid = entry is not None and (
                now - entry[0] <= limit
                if shared
                else window_start(entry[0], limit) == window_start(now, limit)
            )
            if valid:
                result[key] = entry[1]  # type: ignore[index]
                oldest = min(oldest, entry[0])  # type: ignore[index]
            else:
                missing.append(key)
                if entry is not None:
                    stale[key] = entry
        self.metrics.count(department, "hit", len(keys) - len(missing))
        self.metrics.count(department, "miss", len(missing))
        served_from = "cache"
        shown_as_of = oldest if exact else window_start(now, limit)
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
                    shown_as_of = min(shown_as_of, entry[0] if exact else window_start(entry[0], ttl))
                self.metrics.count(department, "stale", len(missing))
                served_from = "stale"
            else:
                items = []
                asked = set(missing)
                for key, cache_key in zip(keys, cache_keys, strict=True):
                    if key in asked:
                        rows = [dict(row) for row in found.get(key, [])]
                        items.append((cache_key, [now, rows]))
                        result[key] = rows
                window = self.policy.stale_if_error.get(department, 0)
                refill = functools.partial(self._store, items, ttl + window, department, changes)
                if later is None:
                    await refill()
                else:
                    later.append(refill)
                if len(missing) == len(keys):
                    served_from = "live"
        shown = served_from if exact or served_from == "stale" else "cache"
        freshness.record(
            department, oldest, served_from, ttl, shown_as_of=shown_as_of, shown_served_from=shown
        )
        return {key: rows for key, rows in result.items() if rows}

    async def invalidate(self, department: str, key: Any | None = None) -> int:
        """Drop a department's entries, or only those of one key (whatever entity, table or partition).
        ``CacheUnavailable`` when the shared cache cannot be reached."""
        self._changes[department] = self._changes.get(department, 0) + 1
        if key is None:
            return await self.backend.delete_prefix(
                f"{PREFIX}:row:{department}:"
            ) + await self.backend.delete_prefix(f"{PREFIX}:lookup:{department}:")
        doomed = [
            row_key(group, key, partition)
            for group in self.policy.groups(department)
            for partition in self.partitions
        ]
        deleted = await self.backend.delete(list(dict.fromkeys(doomed)))
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
        partition: str,
        upstream: int | None,
        changes: int,
    ) -> None:
        """``upstream``: the department's own max-age for these rows (0: keep nothing), else the group's TTL.
        ``changes``: the department's invalidations when the rows were asked for."""
        if upstream == 0 or self._changes.get(department, 0) != changes:
            return
        window = self.policy.stale_if_error.get(department, 0)
        own = [] if upstream is None else [upstream]
        uniform = getattr(live_rows, "columns", None)
        for index, group_keys in missing.items():
            group = groups[index]
            prefix, suffix = row_key_parts(group, partition)
            columns = group.columns
            exact = frozenset(columns)
            ttl = (group.ttl if upstream is None else upstream) + window
            if uniform == exact:
                # Every row holds exactly the group's columns: stored as it is (rows are never written to).
                get = live_rows.get
                await self.backend.multi_set(
                    [(f"{prefix}{key}{suffix}", [now, get(key), *own]) for key in group_keys], ttl
                )
                continue
            width = len(exact)
            items = [
                (
                    f"{prefix}{key}{suffix}",
                    [
                        now,
                        None
                        if row is None
                        else row
                        if type(row) is dict and len(row) == width and row.keys() == exact
                        else {column: row.get(column) for column in columns},
                        *own,
                    ],
                )
                for key, row in ((key, live_rows.get(key)) for key in group_keys)
            ]
            await self.backend.multi_set(items, ttl)

    async def _store(self, items: list[tuple[str, Any]], ttl: int, department: str, changes: int) -> None:
        if self._changes.get(department, 0) == changes:
            await self.backend.multi_set(items, ttl)


def _own_ttl(entry: list[Any], ttl: float) -> float:
    """An entry filled with its department's own max-age keeps it; others the group's TTL."""
    return entry[2] if len(entry) > 2 else ttl


def _limit(entry: list[Any], limit: float, demand: Demand) -> float:
    if len(entry) < 3:
        return limit
    return entry[2] if demand.max_age is None else min(entry[2], demand.max_age)


def _valid(group: ColumnGroup, filled: float, now: float, limit: float) -> bool:
    """Shared entries live for their TTL; partitioned ones until the end of their window."""
    if group.shared:
        return now - filled <= limit
    return window_start(filled, limit) == window_start(now, limit)
