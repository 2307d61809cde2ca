"""Which tables of a department hold subscribable columns, read from the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from govgraph.catalog.model import Catalog


@dataclass(frozen=True, slots=True)
class WatchedTable:
    entity: str
    table: str
    key_column: str
    subscribable: tuple[str, ...]
    """A change of one of these columns is recorded."""
    columns: tuple[str, ...]
    """Every column govgraph reads from the table but the key: the record names which of them changed."""


def watched_tables(catalog: Catalog, department: str) -> list[WatchedTable]:
    found: dict[tuple[str, str, str], list[str]] = {}
    for catalog_field in catalog.subscribable():
        if catalog_field.department != department:
            continue
        where = (catalog_field.entity, catalog_field.table, catalog_field.key_column)
        found.setdefault(where, []).extend(catalog_field.columns)
    read = catalog.departments[department].tables
    return [
        WatchedTable(
            entity,
            table,
            key,
            tuple(sorted(set(columns))),
            tuple(column for column in read.get(table, {}) if column != key),
        )
        for (entity, table, key), columns in sorted(found.items())
    ]
