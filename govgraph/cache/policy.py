"""Which columns are cached for how long, and shared with whom, from the catalog.

Pure: built once at start-up. Each department table's columns fall into
column groups by time-to-live; a group is cached and refreshed as a whole,
so requests selecting different fields of one group share entries.
``realtime`` columns form no group: they always go to the source.

A group is *shared* when every field reading its columns is ``public``: one
entry serves every caller. Any other group is *partitioned* by consumer
department, so that one department's reads never warm (and so never reveal
themselves to) another's (``rows.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from govgraph.catalog.model import Catalog


@dataclass(frozen=True, slots=True)
class ColumnGroup:
    department: str
    table: str
    ttl: int
    columns: tuple[str, ...]
    shared: bool = False
    """Public columns only: one entry for every caller; otherwise one per consumer department."""

    @property
    def name(self) -> str:
        return f"ttl{self.ttl}" + ("p" if self.shared else "")


@dataclass(frozen=True, slots=True)
class Split:
    """One fetch's columns: the cached groups they fall in, and the columns that go live."""

    groups: tuple[ColumnGroup, ...]
    live: tuple[str, ...]


class CachePolicy:
    def __init__(self, catalog: Catalog, stale_if_error: dict[str, int] | None = None) -> None:
        self._ttls: dict[tuple[str, str], dict[str, int | None]] = {}
        self._public: dict[tuple[str, str], dict[str, bool]] = {}
        self._lookup_ttls: dict[tuple[str, str, str], int | None] = {}
        self._lookup_public: dict[tuple[str, str, str], bool] = {}
        for catalog_field in catalog.fields():
            table = (catalog_field.department, catalog_field.table)
            table_ttls = self._ttls.setdefault(table, {})
            table_public = self._public.setdefault(table, {})
            public = catalog_field.classification == "public"
            for column in catalog_field.columns:
                table_ttls[column] = _shorter(table_ttls.get(column, _UNSET), catalog_field.ttl)
                table_public[column] = table_public.get(column, True) and public
            if catalog_field.lookup is not None:
                lookup = (catalog_field.department, catalog_field.lookup.table, catalog_field.lookup.match)
                self._lookup_ttls[lookup] = _shorter(self._lookup_ttls.get(lookup, _UNSET), catalog_field.ttl)
                self._lookup_public[lookup] = self._lookup_public.get(lookup, True) and public
        self._groups: dict[tuple[str, str], dict[tuple[int, bool], ColumnGroup]] = {}
        for (department, table), ttls in self._ttls.items():
            by_kind: dict[tuple[int, bool], list[str]] = {}
            for column, ttl in ttls.items():
                if ttl is not None:
                    by_kind.setdefault((ttl, self._public[(department, table)][column]), []).append(column)
            self._groups[(department, table)] = {
                kind: ColumnGroup(department, table, kind[0], tuple(sorted(columns)), shared=kind[1])
                for kind, columns in by_kind.items()
            }
        self.stale_if_error = {
            department.id: department.source.stale_if_error or 0
            for department in catalog.departments.values()
        }
        if stale_if_error:
            self.stale_if_error.update(stale_if_error)

    def split(self, department: str, table: str, columns: Iterable[str]) -> Split:
        """The groups and live columns for a fetch; a fetch of no columns (does the key exist?)
        uses the table's shortest-lived group (a partitioned one first), so existence is cached too."""
        ttls = self._ttls.get((department, table), {})
        public = self._public.get((department, table), {})
        groups = self._groups.get((department, table), {})
        columns = tuple(columns)
        if not columns and groups:
            return Split((groups[min(groups)],), ())
        chosen: dict[tuple[int, bool], ColumnGroup] = {}
        live: list[str] = []
        for column in columns:
            ttl = ttls.get(column)
            if ttl is None:
                live.append(column)
            else:
                kind = (ttl, public[column])
                chosen[kind] = groups[kind]
        return Split(tuple(chosen[kind] for kind in sorted(chosen)), tuple(live))

    def lookup_ttl(self, department: str, table: str, match: str) -> int | None:
        return self._lookup_ttls.get((department, table, match))

    def lookup_shared(self, department: str, table: str, match: str) -> bool:
        return self._lookup_public.get((department, table, match), False)

    def groups(self, department: str) -> list[ColumnGroup]:
        return [
            group
            for (owner, _), groups in self._groups.items()
            if owner == department
            for group in groups.values()
        ]

    def lookups(self, department: str) -> list[tuple[str, str]]:
        return [
            (table, match)
            for (owner, table, match), ttl in self._lookup_ttls.items()
            if owner == department and ttl
        ]


_UNSET = -1


def _shorter(current: int | None, candidate: int | None) -> int | None:
    """The stricter of two TTLs: realtime (None) wins over any period."""
    if current == _UNSET:
        return candidate
    if current is None or candidate is None:
        return None
    return min(current, candidate)
