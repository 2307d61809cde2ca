"""The change table, ``govgraph_changes``: one row a change, never a value."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from govgraph.events.identifiers import quoted

CHANGES_TABLE = "govgraph_changes"
Dialect = Literal["sqlite", "postgresql"]

_metadata = sa.MetaData()
changes = sa.Table(
    CHANGES_TABLE,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("entity_key", sa.Text, nullable=False),
    sa.Column("changed_columns", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
)
"""For reading; the readers qualify it with ``schema_translate_map``."""


def create_table_sql(dialect: Dialect, schema: str | None = None) -> str:
    name = _qualified(CHANGES_TABLE, schema)
    # AUTOINCREMENT: SQLite never reuses an id, so "changes after id N" stays a safe cursor.
    id_column = "id INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "id bigserial PRIMARY KEY"
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n"
        f"  {id_column},\n"
        "  entity text NOT NULL,\n"
        "  entity_key text NOT NULL,\n"
        "  changed_columns text NOT NULL,\n"
        "  changed_at text NOT NULL\n"
        ")"
    )


def _qualified(name: str, schema: str | None) -> str:
    return f"{quoted(schema)}.{quoted(name)}" if schema else quoted(name)
