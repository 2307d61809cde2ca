"""Which columns are cached for how long, from the catalog's update frequencies.

Pure: built once at start-up. Each department table's columns fall into
column groups by time-to-live; a group is cached and refreshed as a whole,
so requests selecting different fields of one group share entries.
``realtime`` columns form no group: they always go to the source.
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

    @property
    def name(self) -> str:
        return f"ttl{self.ttl}"


@dataclass(frozen=True, slots=True)
class Split:
    """One fetch's columns: the cached groups they fall in, and the columns that go live."""

    groups: tuple[ColumnGroup, ...]
    live: tuple[str, ...]


class CachePolicy:
    def __init__(self, catalog: Catalog, stale_if_error: dict[str, int] | None = None) -> None:
        self._ttls: dict[tuple[str, str], dict[str, int | None]] = {}
        self._lookup_ttls: dict[tuple[str, str, str], int | None] = {}
        for catalog_field in catalog.fields():
            table_ttls = self._ttls.setdefault((catalog_field.department, catalog_field.table), {})
            for column in catalog_field.columns:
                table_ttls[column] = _shorter(table_ttls.get(column, _UNSET), catalog_field.ttl)
            if catalog_field.lookup is not None:
                lookup = (catalog_field.department, catalog_field.lookup.table, catalog_field.lookup.match)
                self._lookup_ttls[lookup] = _shorter(self._lookup_ttls.get(lookup, _UNSET), catalog_field.ttl)
        self._groups: dict[tuple[str, str], dict[int, ColumnGroup]] = {}
        for (department, table), ttls in self._ttls.items():
            by_ttl: dict[int, list[str]] = {}
            for column, ttl in ttls.items():
                if ttl is not None:
                    by_ttl.setdefault(ttl, []).append(column)
            self._groups[(department, table)] = {
                ttl: ColumnGroup(department, table, ttl, tuple(sorted(columns)))
                for ttl, columns in by_ttl.items()
            }
        self.stale_if_error = {
            department.id: department.source.stale_if_error or 0
            for department in catalog.departments.values()
        }
        if stale_if_error:
            self.stale_if_error.update(stale_if_error)

    def split(self, department: str, table: str, columns: Iterable[str]) -> Split:
        """The groups and live columns for a fetch; a fetch of no columns (does the key exist?)
        uses the table's shortest-lived group, so existence is cached too."""
        ttls = self._ttls.get((department, table), {})
        groups = self._groups.get((department, table), {})
        columns = tuple(columns)
        if not columns and groups:
            return Split((groups[min(groups)],), ())
        chosen: dict[int, ColumnGroup] = {}
        live: list[str] = []
        for column in columns:
            ttl = ttls.get(column)
            if ttl is None:
                live.append(column)
            else:
                chosen[ttl] = groups[ttl]
        return Split(tuple(chosen[ttl] for ttl in sorted(chosen)), tuple(live))

    def lookup_ttl(self, department: str, table: str, match: str) -> int | None:
        return self._lookup_ttls.get((department, table, match))

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
