"""PostgreSQL: the chain extended in one statement, by a function that runs inside the audit store.

A group commit on PostgreSQL used to take four round trips, each one waited for by every request in
the group: ``BEGIN`` with the chain's lock, a read of the chain's end, the rows, ``COMMIT``.
``govgraph_audit_append`` does all of it in one call, sent outside a transaction so that the call
is its own transaction and its answer comes after the commit (one round trip, one fsync):

1. it takes the chain's transaction-level advisory lock, so appends take turns across processes;
2. it leaves out records whose request id the chain holds already: a commit that went through after
   its request gave up on it and journaled the record, then meets the journal's replay, is stored
   once (each statement after the lock sees what the previous holder committed: read committed);
3. it reads the chain's end, and chains each record's content hash to its predecessor and position
   exactly as ``records.chain_hash`` does in Python (SHA-256 of ``"position:previous:content"``), so
   ``govgraph audit verify`` checks both alike;
4. it inserts the records, their entity index and usage rows (given with ordinals counted from 1,
   placed after the chain's end), and returns each kept record's position.

The check for request ids the chain holds looks each one up by the request id index, one at a time. As one
anti-join over the call's array, PostgreSQL planned it while the chain was small (a sequential scan is the
cheapest plan then), kept that plan for the session, and under load every group commit scanned the whole
chain: PostgreSQL's CPU per request grew from 0.6 to 1.4 ms in 40 s of the portal query, 2.4 ms in 70 s.

The function is created (or replaced, when its text or settings change) at start-up under the migration lock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from govgraph.audit.tables import audit_records, audit_subjects, audit_usage

NAME = "govgraph_audit_append"

COMPUTED = {"position": "positions", "previous_hash": "previous_hashes", "record_hash": "record_hashes"}
"""Record columns the function works out itself; every other column is an argument."""

RECORD_ARGUMENTS = tuple(column.name for column in audit_records.columns if column.name not in COMPUTED)
USAGE_COLUMNS = tuple(column.name for column in audit_usage.columns)


def _type(column: Any) -> str:
    return str(column.type.compile(dialect=postgresql.dialect()))


def _definition() -> str:
    records = audit_records.name
    record_parameters = ", ".join(f"in_{name} {_type(audit_records.c[name])}[]" for name in RECORD_ARGUMENTS)
    usage_parameters = ", ".join(f"in_usage_{name} {_type(audit_usage.c[name])}[]" for name in USAGE_COLUMNS)
    record_columns = [column.name for column in audit_records.columns]
    record_values = ", ".join(
        f"{COMPUTED[name]}[j]" if name in COMPUTED else f"in_{name}[kept[j]]" for name in record_columns
    )
    usage_arrays = ", ".join(f"in_usage_{name}" for name in USAGE_COLUMNS)
    usage_values = ", ".join(
        "tail + array_position(kept, u.position::integer)" if name == "position" else f"u.{name}"
        for name in USAGE_COLUMNS
    )
    return f"""CREATE OR REPLACE FUNCTION {NAME}(
    lock_key bigint, genesis text, {record_parameters}, reads jsonb, {usage_parameters}
) RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $govgraph$
DECLARE
    tail bigint;
    previous text;
    kept integer[];
    positions bigint[] := '{{}}';
    previous_hashes text[] := '{{}}';
    record_hashes text[] := '{{}}';
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    kept := '{{}}';
    FOR j IN 1 .. cardinality(in_request_id) LOOP
        IF NOT EXISTS (SELECT 1 FROM {records} AS held WHERE held.request_id = in_request_id[j]) THEN
            kept := kept || j;
        END IF;
    END LOOP;
    IF cardinality(kept) = 0 THEN
        RETURN '{{}}';
    END IF;
    SELECT r.position, r.record_hash INTO tail, previous FROM {records} AS r ORDER BY r.position DESC LIMIT 1;
    IF tail IS NULL THEN
        tail := 0;
        previous := genesis;
    END IF;
    FOR j IN 1 .. cardinality(kept) LOOP
        positions := positions || (tail + j);
        previous_hashes := previous_hashes || previous;
        previous := encode(sha256(convert_to((tail + j)::text || ':' || previous || ':' || in_content_hash[kept[j]],
                                             'UTF8')), 'hex');
        record_hashes := record_hashes || previous;
    END LOOP;
    INSERT INTO {records} ({", ".join(record_columns)})
        SELECT {record_values} FROM generate_subscripts(kept, 1) AS j;
    INSERT INTO {audit_subjects.name} (position, entity_type, entity_keys)
        SELECT tail + array_position(kept, (read->>0)::integer), read->>1,
               ARRAY(SELECT jsonb_array_elements_text(read->2))
        FROM jsonb_array_elements(reads) AS read
        WHERE (read->>0)::integer = ANY(kept);
    INSERT INTO {audit_usage.name} ({", ".join(USAGE_COLUMNS)})
        SELECT {usage_values} FROM unnest({usage_arrays}) AS u({", ".join(USAGE_COLUMNS)})
        WHERE u.position::integer = ANY(kept);
    RETURN positions;
END
$govgraph$"""


DEFINITION = _definition()

CALL = (
    f"SELECT {NAME}($1, $2, "
    + ", ".join(f"${index}" for index in range(3, 3 + len(RECORD_ARGUMENTS) + 1 + len(USAGE_COLUMNS)))
    + ")"
)
"""Arguments: the lock key, the genesis hash, one array per record argument, the entity index as JSON
``[[position, type, [keys]], ...]``, one array per usage column (positions counted from 1)."""


async def install(connection: Any) -> None:
    """Create the function when it is missing, or replace it when its text, settings or arguments have
    changed (a newer govgraph): one with other arguments is dropped, not left beside it."""
    body = DEFINITION.split("$govgraph$")[1]
    found = await connection.execute(
        sa.text("SELECT oid::regprocedure::text, prosrc, proconfig FROM pg_proc WHERE proname = :name"),
        {"name": NAME},
    )
    existing = found.all()
    if [(text, settings) for _, text, settings in existing] == [(body, None)]:  # no settings of its own
        return
    for signature, _, _ in existing:
        await connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature}")
    await connection.exec_driver_sql(DEFINITION)
