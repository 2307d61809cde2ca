"""``describe(error)``: the driver's own words, from real SQLite and PostgreSQL errors, without values or secrets."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from govgraph.diagnostics import LIMIT, describe
from tests.conftest import require_service

ID_NUMBER = "110101199003071233"
POSTGRES = "postgresql+asyncpg://postgres:s3cret@127.0.0.1:5432"


async def failure(url: str, statement: str, parameters: dict[str, object] | None = None) -> BaseException:
    """What SQLAlchemy raises for ``statement`` at ``url``."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement), parameters or {})
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError("the statement was expected to fail")


async def test_a_sqlite_bad_column_is_the_driver_s_message_without_the_statement_or_its_values(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / "residents.db") as connection:
        connection.execute("CREATE TABLE residents (resident_id TEXT, birth_date DATE)")
    error = await failure(
        f"sqlite+aiosqlite:///{tmp_path}/residents.db",
        "SELECT birth_dt FROM residents WHERE resident_id = :id",
        {"id": ID_NUMBER},
    )
    assert ID_NUMBER in str(error), "SQLAlchemy's own message carries the parameters"

    assert describe(error) == "no such column: birth_dt"


async def test_a_refused_connection_names_no_secret() -> None:
    error = await failure("postgresql+asyncpg://user:s3cret@127.0.0.1:1/db", "SELECT 1")

    described = describe(error)
    assert "s3cret" not in described and "user" not in described
    assert "Connect call failed" in described or "refused" in described


@pytest.mark.postgres
async def test_a_missing_postgresql_database_is_named_and_the_password_is_not() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"govgraph_missing_{uuid.uuid4().hex[:10]}"

    error = await failure(f"{POSTGRES}/{database}", "SELECT 1")

    assert describe(error) == f'database "{database}" does not exist'


@pytest.mark.postgres
async def test_postgresql_values_are_dropped_from_its_messages() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    bad_column = await failure(
        f"{POSTGRES}/postgres", "SELECT birth_dt FROM pg_class WHERE relname = :n", {"n": ID_NUMBER}
    )
    bad_input = await failure(f"{POSTGRES}/postgres", f"SELECT CAST('id {ID_NUMBER}' AS integer)")
    out_of_range = await failure(f"{POSTGRES}/postgres", f"SELECT CAST('{ID_NUMBER}' AS integer)")
    bad_argument = await failure(f"{POSTGRES}/postgres", "SELECT CAST(:v AS integer)", {"v": ID_NUMBER})

    assert describe(bad_column) == 'column "birth_dt" does not exist'
    assert describe(bad_input) == "invalid input syntax for type integer"
    assert describe(out_of_range) == "value is out of range for type integer"
    assert describe(bad_argument).startswith("invalid input for query argument $1")
    for error in (bad_column, bad_input, out_of_range, bad_argument):
        assert ID_NUMBER in str(error), "the driver's own message carries the value"
        assert ID_NUMBER not in describe(error)

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute("CREATE TEMPORARY TABLE people (id_number text PRIMARY KEY)")
        with pytest.raises(asyncpg.UniqueViolationError) as duplicate:
            await connection.execute("INSERT INTO people VALUES ($1), ($1)", ID_NUMBER)
    finally:
        await connection.close()
    assert ID_NUMBER in str(duplicate.value), "asyncpg's DETAIL line quotes the key"
    assert describe(duplicate.value) == 'duplicate key value violates unique constraint "people_pkey"'


def test_credentials_in_urls_and_passwords_are_redacted_and_the_length_bounded() -> None:
    error = OSError("cannot reach postgresql://officer:hunter2@db.internal/taxation (password=hunter2)")

    assert (
        describe(error) == "cannot reach postgresql://[redacted]@db.internal/taxation (password=[redacted])"
    )
    assert len(describe(OSError("x" * 5000))) == LIMIT
    assert describe(TimeoutError()) == "timed out"
