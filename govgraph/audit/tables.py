"""govgraph's own audit tables, in their own database.

- ``audit_records``: one row per request, in chain order (``position``).
- ``audit_entities`` (SQLite): (position, type, key) for oversight and
  citizens' access logs; on PostgreSQL ``audit_subjects`` holds the same as
  (position, type, keys[]) under a GIN index: a request over a thousand
  people adds one row and a pending-list entry, not a thousand B-tree
  insertions (about 1.3 ms instead of 5 ms a request).
- ``audit_usage``: (position, provider, consumer, coordinate, purpose,
  decision, served_from, entities) for metering providers.

The chain covers ``audit_records`` only; the other two are indexes derived
from it in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

SCHEMA_VERSION = 3
"""2: on PostgreSQL, ``audit_subjects`` replaces ``audit_entities``. 3: ``audit_records.delivery``."""

metadata = sa.MetaData()

audit_meta = sa.Table(
    "govgraph_audit_meta",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

audit_records = sa.Table(
    "govgraph_audit_records",
    metadata,
    sa.Column(
        "position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.Text, nullable=False, index=True),
    sa.Column("subject", sa.Text),
    sa.Column("department", sa.Text, index=True),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, index=True),
    sa.Column("operation_name", sa.Text),
    sa.Column("document_hash", sa.Text, nullable=False),
    sa.Column("client_address", sa.Text),
    sa.Column("entities", sa.Text, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("previous_hash", sa.Text, nullable=False),
    sa.Column("record_hash", sa.Text, nullable=False, unique=True),
    sa.Column("delivery", sa.Text),
)

audit_entities = sa.Table(
    "govgraph_audit_entities",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("entity_key", sa.Text, nullable=False),
    sa.Index("govgraph_audit_entities_key", "entity_type", "entity_key"),
)

audit_subjects = sa.Table(
    "govgraph_audit_subjects",
    metadata,
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("entity_keys", postgresql.ARRAY(sa.Text), nullable=False),
    sa.Index("govgraph_audit_subjects_keys", "entity_keys", postgresql_using="gin"),
)

audit_usage = sa.Table(
    "govgraph_audit_usage",
    metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("occurred_at", sa.Text, nullable=False, index=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("consumer", sa.Text),
    sa.Column("coordinate", sa.Text, nullable=False, index=True),
    sa.Column("purpose", sa.Text),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("served_from", sa.Text, nullable=False),
    sa.Column("entities", sa.Integer, nullable=False),
)

SQLITE_TABLES = (audit_meta, audit_records, audit_usage)
"""Beside them, SQLite's entity index is ``audit_keys`` (a full-text table); stores from before it had
``audit_entities``, a b-tree row per key, which start-up moves into it."""

AUDIT_KEYS = "govgraph_audit_keys"
AUDIT_KEYS_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {AUDIT_KEYS} USING fts5("
    "tokens, position UNINDEXED, entity_type UNINDEXED, tokenize = 'ascii', detail = none)"
)
"""SQLite's entity index: a row per record and entity type, its keys as tokens. A b-tree row per key spread
a record's thousand keys over as many pages of a growing index, each written out at the commit (a
1000-key commit 7 ms over the first hundred records, 20 ms by the four hundredth); a full-text index
writes a small segment per commit and merges them as it goes (3.2-4.3 ms over the same 300 records)."""


AUDIT_KEYS_INSERT = f"INSERT INTO {AUDIT_KEYS} (tokens, position, entity_type) VALUES (?, ?, ?)"
"""One row of SQLite's entity index: ``(key_tokens(keys), position, entity_type)``."""


def key_token(key: object) -> str:
    """A key as one token of the entity index: its UTF-8 in hex, so that no tokenizer splits, folds or
    reads it (an id number's ``X``, a certificate number's brackets, query syntax) and tokens match keys
    exactly."""
    return str(key).encode("utf-8").hex()


def key_tokens(keys: Iterable[object]) -> str:
    return " ".join(key_token(key) for key in keys)


POSTGRESQL_TABLES = (audit_meta, audit_records, audit_subjects, audit_usage)
