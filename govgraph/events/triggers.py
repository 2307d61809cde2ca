"""Change triggers, generated from the catalog as parameter-free DDL.

One AFTER UPDATE trigger a watched table. It fires only when a subscribable
column is distinct from its old value, and records which of the table's
catalog columns changed (a death changes ``deceased`` and ``date_of_death``
together), as a JSON list of names: never a value.

On PostgreSQL the trigger first takes a transaction-level advisory lock of
the department's own, so the transactions that record changes commit one
after the other, in the order of their ids: a reader taking "the changes
after id N" can never pass an id that commits later. Only transactions that
change a watched column wait, and only for each other.
"""

from __future__ import annotations

import zlib

from govgraph.catalog.model import Catalog
from govgraph.events.identifiers import literal, quoted
from govgraph.events.table import CHANGES_TABLE, Dialect, create_table_sql
from govgraph.events.watched import WatchedTable, watched_tables

CHANNEL = "govgraph_changes"
_SQLITE_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_POSTGRES_NOW = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


def change_sql(catalog: Catalog, department: str, dialect: Dialect, schema: str | None = None) -> list[str]:
    """The statements that create the change table and (re)create the department's triggers."""
    if dialect == "postgresql":
        schema = schema or department
    statements = [create_table_sql(dialect, schema)]
    for watched in watched_tables(catalog, department):
        if dialect == "sqlite":
            statements.extend(_sqlite_trigger(watched))
        else:
            statements.extend(_postgres_trigger(watched, department, schema))  # type: ignore[arg-type]
    return statements


def order_lock_key(schema: str) -> int:
    """The advisory lock that orders one schema's change-recording transactions: govgraph's namespace in the
    high bits, the schema's CRC-32 in the low ones."""
    return (0x60F6 << 32) | zlib.crc32(f"{CHANGES_TABLE}.{schema}".encode())


def _trigger_name(watched: WatchedTable) -> str:
    return f"govgraph_changes_{watched.table}"


def _distinct(watched: WatchedTable, operator: str) -> str:
    return " OR ".join(f"OLD.{quoted(c)} {operator} NEW.{quoted(c)}" for c in watched.subscribable)


def _changed_list(watched: WatchedTable, operator: str) -> str:
    """``'["deceased","date_of_death"]'`` built from the columns that changed, in catalog order."""
    parts = "\n      || ".join(
        f"CASE WHEN OLD.{quoted(c)} {operator} NEW.{quoted(c)} THEN '\"{c}\",' ELSE '' END"
        for c in watched.columns
    )
    return f"'[' || rtrim(\n      {parts},\n    ',') || ']'"


def _sqlite_trigger(watched: WatchedTable) -> list[str]:
    name, table = quoted(_trigger_name(watched)), quoted(watched.table)
    return [
        f"DROP TRIGGER IF EXISTS {name}",
        f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW\n"
        f"WHEN {_distinct(watched, 'IS NOT')}\n"
        "BEGIN\n"
        f"  INSERT INTO {quoted(CHANGES_TABLE)} (entity, entity_key, changed_columns, changed_at)\n"
        f"  VALUES ({literal(watched.entity)}, NEW.{quoted(watched.key_column)},\n"
        f"    {_changed_list(watched, 'IS NOT')},\n    {_SQLITE_NOW});\n"
        "END",
    ]


def _postgres_trigger(watched: WatchedTable, department: str, schema: str) -> list[str]:
    name = quoted(_trigger_name(watched))
    function = f"{quoted(schema)}.{name}"
    table = f"{quoted(schema)}.{quoted(watched.table)}"
    distinct = "IS DISTINCT FROM"
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"  PERFORM pg_advisory_xact_lock({order_lock_key(schema)});\n"
        f"  INSERT INTO {quoted(schema)}.{quoted(CHANGES_TABLE)} "
        "(entity, entity_key, changed_columns, changed_at)\n"
        f"  VALUES ({literal(watched.entity)}, NEW.{quoted(watched.key_column)}::text,\n"
        f"    {_changed_list(watched, distinct)},\n    {_POSTGRES_NOW});\n"
        f"  PERFORM pg_notify({literal(CHANNEL)}, {literal(department)});\n"
        "  RETURN NULL;\n"
        "END $$",
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
        f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW\n"
        f"WHEN ({_distinct(watched, distinct)})\n"
        f"EXECUTE FUNCTION {function}()",
    ]
