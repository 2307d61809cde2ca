"""What a department behind a service reports when its records change: the body of ``POST /changes/{department}``.

::

    {"changes": [{"entity": "Person", "key": "110105196504123312",
                  "columns": ["tax_compliant"], "at": "2026-12-03T10:00:00Z"}]}

- ``entity``: an entity the department provides a part of;
- ``key``: the record's key, as the department keys that table;
- ``columns``: which of the catalog's columns of that table changed (the
  names in the department's ``source.tables.<table>.columns``);
- ``at`` (optional, default: when govgraph receives it): ISO 8601.

A change names what changed, never a value: any other property is refused.
A change that touches no subscribable column is accepted and not recorded,
as a trigger would not fire for it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from govgraph.catalog.model import Catalog

MAX_CHANGES = 500
MAX_KEY_LENGTH = 200
MAX_BODY_BYTES = 1024 * 1024
PROPERTIES = ("entity", "key", "columns", "at")


class ChangesRejected(ValueError):
    """The body is not a list of changes this department can report; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ReceivedChange:
    entity: str
    key: str
    columns: tuple[str, ...]
    at: str
    """ISO 8601 UTC, to the millisecond, as the change tables' triggers write it."""


@dataclass(frozen=True, slots=True)
class ReportedTable:
    table: str
    key_column: str
    columns: tuple[str, ...]
    """Every catalog column of the table but the key."""
    subscribable: frozenset[str]


def reported_tables(catalog: Catalog, department: str) -> dict[str, ReportedTable]:
    """Entity → the table of ``department`` that holds its part, and which of its columns are subscribable."""
    read = catalog.departments[department].tables
    found: dict[str, ReportedTable] = {}
    for entity in catalog.entities.values():
        part = entity.parts.get(department)
        if part is None:
            continue
        subscribable = frozenset(
            column
            for catalog_field in entity.fields.values()
            if catalog_field.department == department and catalog_field.subscribable
            for column in catalog_field.columns
        )
        columns = tuple(column for column in read.get(part.table, {}) if column != part.key_column)
        found[entity.name] = ReportedTable(part.table, part.key_column, columns, subscribable)
    return found


def parse_changes(
    tables: Mapping[str, ReportedTable], body: bytes, now: datetime.datetime | None = None
) -> tuple[int, list[ReceivedChange]]:
    """``(how many changes the body reports, those that touch a subscribable column)``, or ``ChangesRejected``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ChangesRejected("the body is not JSON") from None
    if not isinstance(document, dict) or set(document) != {"changes"}:
        raise ChangesRejected('the body must be an object with one property, "changes": a list of changes')
    reported = document["changes"]
    if not isinstance(reported, list) or not reported:
        raise ChangesRejected("changes must be a non-empty list")
    if len(reported) > MAX_CHANGES:
        raise ChangesRejected(f"changes holds {len(reported)} changes; at most {MAX_CHANGES} a call")
    received_at = _millis(now or datetime.datetime.now(datetime.UTC))
    changes = [_change(tables, f"changes[{index}]", item, received_at) for index, item in enumerate(reported)]
    return len(changes), [
        change for change in changes if tables[change.entity].subscribable.intersection(change.columns)
    ]


def _change(tables: Mapping[str, ReportedTable], where: str, item: Any, received_at: str) -> ReceivedChange:
    if not isinstance(item, dict):
        raise ChangesRejected(f"{where} must be an object with entity, key and columns")
    extra = sorted(str(name) for name in item if name not in PROPERTIES)
    if extra:
        raise ChangesRejected(
            f"{where} has {', '.join(name[:40] for name in extra)}: a change names its entity, key, columns "
            "and time, never a value"
        )
    entity = item.get("entity")
    if not isinstance(entity, str) or entity not in tables:
        known = ", ".join(sorted(tables))
        shown = entity[:40] if isinstance(entity, str) else entity
        raise ChangesRejected(
            f"{where}.entity {shown!r} is not an entity of this department; it provides {known}"
        )
    table = tables[entity]
    key = item.get("key")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ChangesRejected(f"{where}.key must be a printable string of 1 to {MAX_KEY_LENGTH} characters")
    columns = item.get("columns")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise ChangesRejected(f"{where}.columns must be a non-empty list of column names")
    unknown = sorted({column for column in columns if column not in table.columns})
    if unknown:
        raise ChangesRejected(
            f"{where}.columns: {', '.join(c[:40] for c in unknown)} not a column of {table.table} "
            f"govgraph reads; it reads {', '.join(table.columns)}"
        )
    at = item.get("at", received_at)
    if not isinstance(at, str):
        raise ChangesRejected(f"{where}.at must be an ISO 8601 time such as 2026-12-03T10:00:00Z")
    try:
        moment = datetime.datetime.fromisoformat(at)
    except ValueError:
        raise ChangesRejected(f"{where}.at must be an ISO 8601 time such as 2026-12-03T10:00:00Z") from None
    named = set(columns)
    ordered = tuple(column for column in table.columns if column in named)
    return ReceivedChange(entity, key, ordered, _millis(moment))


def _millis(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
