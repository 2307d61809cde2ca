"""The entity index behind citizens' access logs: found by any key, on both stores, across a schema upgrade."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from govgraph.audit.records import AuditRecord, EntityAccess, FieldDecision
from govgraph.audit.store import AuditFilter, AuditStore
from govgraph.audit.tables import SCHEMA_VERSION
from tests.conftest import empty_postgres_database, require_service

PERSONS = tuple(f"1101011990{index:08d}" for index in range(1500))


def record(keys: tuple[str, ...], *, subject: str = "officer-1") -> AuditRecord:
    return AuditRecord(
        request_id=uuid.uuid4().hex,
        occurred_at="2026-12-01T08:00:00.000000Z",
        subject=subject,
        department="taxation",
        roles=("tax_officer",),
        purpose="tax-audit",
        operation_name=None,
        document_hash="0" * 64,
        client_address="127.0.0.1",
        entities=(
            EntityAccess("Person", "public_security", keys),
            EntityAccess("Person", "taxation", keys[:10]),
            EntityAccess("Enterprise", "market_regulation", ("91110101MA01BXQ80Y",)),
        ),
        fields=(FieldDecision("Person.name", "public_security", "internal", "read"),),
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/audit.db"
        return
    async with empty_postgres_database("govgraph_test_index") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://")


async def test_every_key_of_a_large_request_finds_its_record(store_url: str) -> None:
    store = AuditStore(store_url)
    await store.open()
    try:
        [large] = await store.append([record(PERSONS)])
        [small] = await store.append([record(PERSONS[:3])])
        for key in (PERSONS[0], PERSONS[2], PERSONS[749], PERSONS[-1]):
            found = [stored.position for stored in await store.access_log("Person", key, 10)]
            assert found == ([small, large] if key in PERSONS[:3] else [large])
        assert await store.access_log("Enterprise", PERSONS[0], 10) == []
        by_key = await store.query(AuditFilter(entity_key="91110101MA01BXQ80Y"), 10, None)
        assert [stored.position for stored in by_key] == [small, large]
        assert await store.access_log("Person", "110101199999999999", 10) == []
    finally:
        await store.close()


ODD_KEYS = (
    "11010119900307123X",
    "11010119900307123x",
    "京(2024)东城区不动产权第0000001号",
    'quote " and * and NEAR(a b) OR c',
    "AND",
    "1101011990030712",
    "110101199003071234",
    "key with spaces",
)


async def test_keys_of_any_shape_find_exactly_their_own_records(store_url: str) -> None:
    """An id number's X and x, a certificate number's brackets and Chinese, what an index's query syntax
    would read, a key that is the start of another: each finds its records and nobody else's."""
    store = AuditStore(store_url)
    await store.open()
    try:
        positions = {}
        for key in ODD_KEYS:
            [positions[key]] = await store.append([record((key, "110101200001011234"))])
        for key in ODD_KEYS:
            found = [stored.position for stored in await store.access_log("Person", key, 10)]
            assert found == [positions[key]], key
        assert await store.access_log("Person", "1101011990030712*", 10) == []
        assert await store.access_log("Person", "11010119900307", 10) == []
        shared = [stored.position for stored in await store.access_log("Person", "110101200001011234", 20)]
        assert sorted(shared) == sorted(positions.values())
    finally:
        await store.close()


async def test_a_sqlite_store_from_before_the_full_text_index_keeps_its_index(tmp_path: Path) -> None:
    """A store whose index was a b-tree row per key: start-up moves its keys into the full-text index, once,
    and its records still verify."""
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    store = AuditStore(url)
    await store.open()
    [large] = await store.append([record(PERSONS[:500])])
    [small] = await store.append([record(("11010119900307123X",))])
    await store.close()
    with sqlite3.connect(tmp_path / "audit.db") as connection:  # as govgraph left such a store
        rows = connection.execute("SELECT tokens, position, entity_type FROM govgraph_audit_keys").fetchall()
        connection.execute("DROP TABLE govgraph_audit_keys")
        connection.execute(
            "CREATE TABLE govgraph_audit_entities (position INTEGER NOT NULL, entity_type TEXT NOT NULL, "
            "entity_key TEXT NOT NULL)"
        )
        connection.executemany(
            "INSERT INTO govgraph_audit_entities VALUES (?, ?, ?)",
            [
                (position, entity_type, bytes.fromhex(token).decode())
                for tokens, position, entity_type in rows
                for token in tokens.split()
            ],
        )
    for _ in range(2):  # the second start finds nothing left to move
        store = AuditStore(url)
        await store.open()
        try:
            for key, expected in (
                (PERSONS[0], [large]),
                (PERSONS[499], [large]),
                ("11010119900307123X", [small]),
            ):
                assert [stored.position for stored in await store.access_log("Person", key, 10)] == expected
            assert [
                s.position for s in await store.query(AuditFilter(entity_key="91110101MA01BXQ80Y"), 10, None)
            ] == [
                small,
                large,
            ]
            assert (await store.verify())[1] is None
        finally:
            await store.close()
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        tables = {
            name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert "govgraph_audit_entities" not in tables


async def test_a_schema_1_postgresql_store_keeps_its_index_when_upgraded(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"govgraph_test_index_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    try:
        store = AuditStore(url)
        await store.open()
        positions = await store.append([record(PERSONS[:200]), record(PERSONS[100:300])])
        await store.close()
        # Put the index back the way schema 1 kept it: one row per key.
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        try:
            await connection.execute(
                "CREATE TABLE govgraph_audit_entities (position bigint NOT NULL, entity_type text NOT NULL, "
                "entity_key text NOT NULL);"
                "INSERT INTO govgraph_audit_entities SELECT position, entity_type, unnest(entity_keys) "
                "FROM govgraph_audit_subjects;"
                "DROP TABLE govgraph_audit_subjects;"
                "UPDATE govgraph_audit_meta SET value = '1' WHERE name = 'schema_version'"
            )
        finally:
            await connection.close()

        upgraded = AuditStore(url)
        await upgraded.open()
        try:
            found = await upgraded.access_log("Person", PERSONS[150], 10)
            assert [stored.position for stored in found] == positions[::-1]
            assert [s.position for s in await upgraded.access_log("Person", PERSONS[250], 10)] == [
                positions[1]
            ]
            assert await upgraded.verify() == (2, None)
        finally:
            await upgraded.close()
        connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        try:
            assert await connection.fetchval("SELECT to_regclass('govgraph_audit_entities')") is None
            assert await connection.fetchval(
                "SELECT value FROM govgraph_audit_meta WHERE name = 'schema_version'"
            ) == str(SCHEMA_VERSION)
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def test_a_schema_2_store_gains_deliveries_and_its_old_records_still_verify(tmp_path: Path) -> None:
    import dataclasses
    import sqlite3

    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    store = AuditStore(url)
    await store.open()
    await store.append([record(PERSONS[:3])])
    await store.close()
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        connection.execute("ALTER TABLE govgraph_audit_records DROP COLUMN delivery")
        connection.execute("UPDATE govgraph_audit_meta SET value = '2' WHERE name = 'schema_version'")

    upgraded = AuditStore(url)
    await upgraded.open()
    try:
        await upgraded.append([dataclasses.replace(record(PERSONS[:1]), request_id="d", delivery="sub_1")])
        checked, broken = await upgraded.verify()
        stored = [item.record.delivery async for item in upgraded.scan()]
    finally:
        await upgraded.close()

    assert (checked, broken) == (2, None)
    assert stored == [None, "sub_1"]


@pytest.mark.postgres
async def test_key_columns_are_compressed_with_lz4_and_rows_from_before_still_verify() -> None:
    compression = (
        "SELECT c.relname || '.' || a.attname, a.attcompression::text FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid WHERE a.attname IN ('entities', 'fields', 'entity_keys') "
        "AND c.relname IN ('govgraph_audit_records', 'govgraph_audit_subjects') ORDER BY 1"
    )
    async with empty_postgres_database("govgraph_test_lz4") as database:
        url = database.replace("postgresql://", "postgresql+asyncpg://")
        store = AuditStore(url)
        await store.open()
        connection = await asyncpg.connect(database)
        try:
            assert {row[0]: row[1] for row in await connection.fetch(compression)} == {
                "govgraph_audit_records.entities": "l",
                "govgraph_audit_records.fields": "l",
                "govgraph_audit_subjects.entity_keys": "l",
            }
            # A store made before: its key columns were pglz, and hold rows written so.
            for table, column in (
                ("govgraph_audit_records", "entities"),
                ("govgraph_audit_subjects", "entity_keys"),
            ):
                await connection.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz")
            [before] = await store.append([record(PERSONS)])
            await store.close()

            store = AuditStore(url)
            await store.open()
            [after] = await store.append([record(PERSONS)])
            assert {row[1] for row in await connection.fetch(compression)} == {"l"}
            assert await store.verify() == (2, None)
            found = [stored.position for stored in await store.access_log("Person", PERSONS[1234], 10)]
            assert found == [after, before]
        finally:
            await connection.close()
            await store.close()
