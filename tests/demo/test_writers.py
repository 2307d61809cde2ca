"""The writers: six SQLite files and a manifest, or six PostgreSQL schemas, holding the same rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from govgraph.demo import generate_sqlite, golden, load_postgres
from govgraph.demo.layout import DEPARTMENTS, department_tables

NOT_SHARED = {
    "public_security": ("residents", "criminal_record"),
    "civil_affairs": ("civil_status", "disability_grade"),
    "human_resources": ("insured_persons", "medical_diagnosis"),
    "taxation": ("individual_taxpayers", "bank_account"),
    "market_regulation": ("enterprises", "investigation_note"),
}


def test_generate_sqlite_writes_six_databases_and_a_manifest(small_city: Path) -> None:
    assert sorted(path.name for path in small_city.iterdir()) == sorted(
        [f"{department}.db" for department in DEPARTMENTS] + ["MANIFEST.json"]
    )
    manifest = _manifest(small_city)
    assert manifest["seed"] == 20261124
    for department, tables in manifest["rows"].items():
        with sqlite3.connect(small_city / f"{department}.db") as connection:
            for table, count in tables.items():
                assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (count,)
    assert manifest["rows"]["public_security"]["residents"] == manifest["scale"]


def test_the_same_seed_and_scale_give_byte_identical_files(tmp_path: Path) -> None:
    generate_sqlite(tmp_path / "a", scale=150, seed=3, progress=False)
    generate_sqlite(tmp_path / "b", scale=150, seed=3, progress=False)
    generate_sqlite(tmp_path / "c", scale=150, seed=4, progress=False)

    for name in [f"{department}.db" for department in DEPARTMENTS] + ["MANIFEST.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert _dump(tmp_path / "a" / "public_security.db") == _dump(tmp_path / "b" / "public_security.db")
    assert _dump(tmp_path / "a" / "public_security.db") != _dump(tmp_path / "c" / "public_security.db")


def test_regenerating_replaces_the_files_and_leaves_no_partial_ones(tmp_path: Path) -> None:
    generate_sqlite(tmp_path, scale=100, progress=False)
    generate_sqlite(tmp_path, scale=40, progress=False)

    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
    with sqlite3.connect(tmp_path / "public_security.db") as connection:
        assert connection.execute("SELECT count(*) FROM residents").fetchone() == (40,)
    assert _manifest(tmp_path)["scale"] == 40


def test_progress_goes_to_stderr_and_can_be_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_sqlite(tmp_path, scale=30, progress=True)
    shown = capsys.readouterr()
    assert shown.out == "" and "demo city" in shown.err
    generate_sqlite(tmp_path, scale=30, progress=False)
    assert capsys.readouterr() == ("", "")


def test_not_shared_columns_stay_in_the_source_with_the_golden_sentinels(small_city: Path) -> None:
    for department, (table, column) in NOT_SHARED.items():
        with sqlite3.connect(small_city / f"{department}.db") as connection:
            values = {row[0] for row in connection.execute(f"SELECT {column} FROM {table}")}
        assert golden.NOT_SHARED_SENTINELS[column] in values, (department, column)
    with sqlite3.connect(small_city / "public_security.db") as connection:
        (criminal_record,) = connection.execute(
            "SELECT criminal_record FROM residents WHERE resident_id = '110101199003071233'"
        ).fetchone()
    assert criminal_record == "GOLDEN-NOT-SHARED-CRIMINAL-RECORD"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:hunter2@127.0.0.1:5432/govgraph-demo",
        "postgresql://postgres:hunter2@127.0.0.1:5432/",
        "postgresql+asyncpg://postgres:hunter2@127.0.0.1:5432/demo;drop",
        "mysql://postgres:hunter2@127.0.0.1:3306/govgraph_demo",
    ],
)
async def test_load_postgres_refuses_bad_urls_without_echoing_the_password(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        await load_postgres(url, scale=20, progress=False)
    assert "hunter2" not in str(refused.value)


async def test_an_unreachable_server_is_reported_without_the_password() -> None:
    with pytest.raises(OSError) as refused:
        await load_postgres(
            "postgresql://postgres:hunter2@127.0.0.1:1/govgraph_demo", scale=20, progress=False
        )
    assert "hunter2" not in str(refused.value)


@pytest.mark.postgres
async def test_load_postgres_holds_the_same_rows_as_sqlite(postgres_url: str, small_city: Path) -> None:
    await load_postgres(postgres_url, scale=30, seed=1, progress=False)
    await load_postgres(postgres_url, scale=_manifest(small_city)["scale"], progress=False)

    engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        for department, metadata in department_tables().items():
            sqlite_engine = sa.create_engine(f"sqlite:///{small_city / f'{department}.db'}")
            async with engine.connect() as connection:
                translated = await connection.execution_options(schema_translate_map={None: department})
                for table in metadata.sorted_tables:
                    with sqlite_engine.connect() as sqlite_connection:
                        expected = sqlite_connection.execute(_ordered(table)).all()
                    loaded = (await translated.execute(_ordered(table))).all()
                    assert loaded == expected, f"{department}.{table.name}"
            sqlite_engine.dispose()
    finally:
        await engine.dispose()


def _ordered(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table).order_by(*table.primary_key.columns)


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "MANIFEST.json").read_text(encoding="utf-8"))
