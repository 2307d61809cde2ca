"""PostgreSQL's one-call append chains records exactly as Python does, takes turns across connections,
and is put back at start-up when its text differs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govgraph.audit import chain_function
from govgraph.audit import store as store_module
from govgraph.audit.records import (
    GENESIS_HASH,
    AuditRecord,
    EntityAccess,
    FieldDecision,
    chain_hash,
    content_hash,
)
from govgraph.audit.store import AuditStore
from tests.conftest import empty_postgres_database


def record(index: int, keys: tuple[str, ...] = ("110101199003071234",)) -> AuditRecord:
    return AuditRecord(
        request_id=uuid.uuid4().hex,
        occurred_at=f"2026-12-03T08:00:{index % 60:02d}.000000Z",
        subject=f"officer-{index}",
        department="taxation",
        roles=("tax_officer",),
        purpose="tax-audit",
        operation_name="Review" if index % 2 else None,
        document_hash="0" * 64,
        client_address="127.0.0.1",
        entities=(EntityAccess("Person", "public_security", keys), EntityAccess("Person", "taxation", keys)),
        fields=(FieldDecision("Person.annualIncome", "taxation", "conditional", "read"),),
    )


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with empty_postgres_database("govgraph_test_chain_function") as url:
        yield url


def store_at(url: str) -> AuditStore:
    return AuditStore(url.replace("postgresql://", "postgresql+asyncpg://"))


async def stored_links(url: str) -> list[tuple[int, str, str, str]]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT position, content_hash, previous_hash, record_hash FROM govgraph_audit_records ORDER BY position"
        )
    finally:
        await connection.close()
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_function_chains_as_python_does_and_mixes_with_the_replay_path(database: str) -> None:
    store = store_at(database)
    await store.open()
    try:
        written = [record(index) for index in range(7)]
        positions = [
            *await store.append(written[:3]),  # one call
            *await store.append(written[3:4], skip_recorded=True),  # the journal replay's four round trips
            *await store.append(written[4:]),  # one call again, after the other path
        ]
        assert positions == [1, 2, 3, 4, 5, 6, 7]
        assert await store.verify() == (7, None)
    finally:
        await store.close()
    previous = GENESIS_HASH
    for (position, stored_content, stored_previous, stored_hash), original in zip(
        await stored_links(database), written, strict=True
    ):
        assert stored_content == content_hash(original)
        assert stored_previous == previous
        assert stored_hash == chain_hash(previous, stored_content, position)
        previous = stored_hash


async def test_connections_appending_at_once_take_turns_on_one_chain(database: str) -> None:
    stores = [store_at(database) for _ in range(4)]
    for store in stores:
        await store.open()
    try:

        async def append_many(store: AuditStore, offset: int) -> list[int]:
            positions: list[int] = []
            for batch in range(10):
                positions += await store.append(
                    [record(offset + batch * 3 + item) for item in range(1 + batch % 3)]
                )
            return positions

        results = await asyncio.gather(
            *(append_many(store, index * 100) for index, store in enumerate(stores))
        )
        every = sorted(position for positions in results for position in positions)
        assert every == list(range(1, len(every) + 1)), "each record got its own position, none skipped"
        assert len(every) == 4 * sum(1 + batch % 3 for batch in range(10))
        assert await stores[0].verify() == (len(every), None)
    finally:
        for store in stores:
            await store.close()


async def test_a_changed_or_missing_function_is_put_back_at_start_up(database: str) -> None:
    store = store_at(database)
    await store.open()
    await store.close()
    connection = await asyncpg.connect(database)
    try:
        tampered = chain_function.DEFINITION.replace("RETURN positions;", "RETURN '{}';")
        assert tampered != chain_function.DEFINITION
        await connection.execute(tampered)  # a tampered or older body
        reopened = store_at(database)
        await reopened.open()
        try:
            assert await reopened.append([record(1)]) == [1]
            assert await reopened.verify() == (1, None)
        finally:
            await reopened.close()
        with_settings = chain_function.DEFINITION.replace(
            "VOLATILE AS", "VOLATILE SET plan_cache_mode = force_generic_plan AS"
        )
        assert with_settings != chain_function.DEFINITION
        await connection.execute(with_settings)  # the same body, with a generic plan kept for good
        reopened = store_at(database)
        await reopened.open()
        await reopened.close()
        settings = await connection.fetchval(
            "SELECT proconfig FROM pg_proc WHERE proname = $1", chain_function.NAME
        )
        assert settings is None, "the function keeps no settings of its own"

        await connection.execute(  # an older govgraph's function, with other arguments
            f"CREATE FUNCTION {chain_function.NAME}(bigint) RETURNS bigint[] LANGUAGE sql AS 'SELECT NULL::bigint[]'"
        )
        reopened = store_at(database)
        await reopened.open()
        try:
            assert await reopened.append([record(2)]) == [2]
        finally:
            await reopened.close()
        kept = await connection.fetch("SELECT prosrc FROM pg_proc WHERE proname = $1", chain_function.NAME)
        assert [row[0] for row in kept] == [chain_function.DEFINITION.split("$govgraph$")[1]], "only this one"

        await connection.execute(f"DROP FUNCTION {chain_function.NAME}")
        again = store_at(database)
        await again.open()
        try:
            assert await again.append([record(3)]) == [3]
        finally:
            await again.close()
    finally:
        await connection.close()


async def test_a_record_the_chain_holds_is_stored_once_with_its_index_and_usage(database: str) -> None:
    """A commit that went through after its request journaled the record, then the journal's replay:
    the second append of the same request leaves it out, in the same call that appends the others."""
    store = store_at(database)
    await store.open()
    try:
        late, other = record(1, ("110101199003071234",)), record(2, ("110101199208152467",))
        assert await store.append([late]) == [1]
        assert await store.append([late, other, other]) == [2], "only the new record, once"
        assert await store.append([late], skip_recorded=True) == []
        assert await store.verify() == (2, None)
    finally:
        await store.close()
    connection = await asyncpg.connect(database)
    try:
        subjects = await connection.fetch(
            "SELECT position, entity_keys FROM govgraph_audit_subjects ORDER BY 1"
        )
        usage = await connection.fetch("SELECT position FROM govgraph_audit_usage ORDER BY 1")
    finally:
        await connection.close()
    assert [(row[0], list(row[1])) for row in subjects] == [
        (1, ["110101199003071234"]),
        (2, ["110101199208152467"]),
    ]
    assert [row[0] for row in usage] == [1, 2]


async def test_an_append_looks_request_ids_up_by_index_however_it_was_planned(database: str) -> None:
    """The chain holds many records: checking a group's request ids must not read every one of them, on the
    first calls of a session (planned for the call) or later ones (a plan PostgreSQL keeps)."""
    store = store_at(database)
    await store.open()
    await store.close()
    connection = await asyncpg.connect(database)
    try:
        async with connection.transaction():
            for index in range(40):
                rows = store_module._chained_rows([record(index)], None, chain=False)
                arguments = store_module._call_arguments(rows)
                await connection.fetchval(
                    chain_function.CALL, store_module.ADVISORY_LOCK_KEY, GENESIS_HASH, *arguments
                )
            scans = await connection.fetchval(
                "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'govgraph_audit_records'"
            )
            stored = await connection.fetchval("SELECT count(*) FROM govgraph_audit_records")
        assert stored == 40
        assert scans == 0, "no append scanned the chain"
    finally:
        await connection.close()
