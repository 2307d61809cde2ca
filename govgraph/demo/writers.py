"""Write the demo city: six SQLite files, or six schemas of one PostgreSQL database."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from tqdm import tqdm

from govgraph.catalog.loader import load_catalog
from govgraph.demo.city import DEFAULT_SCALE, DEFAULT_SEED, City, build_city
from govgraph.demo.layout import DEPARTMENTS, create_indexes, create_tables, department_tables
from govgraph.demo.triggers import install_triggers
from govgraph.events.install import install_postgres, install_sqlite

DEMO_CATALOG = Path(__file__).parent / "catalog"

MANIFEST = "MANIFEST.json"
BATCH = 2_000
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def generate_sqlite(
    out_dir: Path, scale: int = DEFAULT_SCALE, seed: int = DEFAULT_SEED, progress: bool = True
) -> None:
    """Write ``<department>.db`` for the six departments, then ``MANIFEST.json`` to say it is complete."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    city = build_city(scale, seed)
    tables = department_tables()
    catalog = load_catalog(DEMO_CATALOG, env={})
    with tqdm(total=_row_total(city), unit="rows", desc="demo city", disable=not progress) as bar:
        for department in DEPARTMENTS:
            target = out_dir / f"{department}.db"
            partial = out_dir / f".{department}.db.partial"
            partial.unlink(missing_ok=True)
            engine = sa.create_engine(f"sqlite:///{partial}")
            try:
                metadata = tables[department]
                with engine.begin() as connection:
                    create_tables(connection, metadata)
                    for table in metadata.sorted_tables:
                        for chunk in _chunks(city.rows[department][table.name]):
                            connection.execute(table.insert(), chunk)
                            bar.update(len(chunk))
                    create_indexes(connection, metadata)
                    install_sqlite(connection, catalog, department)
            finally:
                engine.dispose()
            os.replace(partial, target)
    _write_manifest(out_dir / MANIFEST, city)


async def load_postgres(
    url: str, scale: int = DEFAULT_SCALE, seed: int = DEFAULT_SEED, progress: bool = True
) -> None:
    """Create the database if needed; one schema per department, dropped and reloaded."""
    target = sa.make_url(asyncpg_url(url))
    database = target.database or ""
    if not _DATABASE_NAME.match(database):
        raise ValueError("the database name must be letters, digits and underscores, e.g. govgraph_demo")
    await _create_database(target, database)
    city = build_city(scale, seed)
    tables = department_tables()
    catalog = load_catalog(DEMO_CATALOG, env={})
    engine = create_async_engine(target)
    try:
        with tqdm(total=_row_total(city), unit="rows", desc="demo city", disable=not progress) as bar:
            for department in DEPARTMENTS:
                async with engine.begin() as connection:
                    await connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{department}" CASCADE'))
                    await connection.execute(sa.text(f'CREATE SCHEMA "{department}"'))
                    translated = await connection.execution_options(schema_translate_map={None: department})
                    metadata = tables[department]
                    await translated.run_sync(create_tables, metadata)
                    for table in metadata.sorted_tables:
                        for chunk in _chunks(city.rows[department][table.name]):
                            await translated.execute(table.insert(), chunk)
                            bar.update(len(chunk))
                    await translated.run_sync(create_indexes, metadata)
                    await _advance_sequences(connection, department, metadata)
                    await install_triggers(connection, catalog, department)
                    await install_postgres(connection, catalog, department)
    finally:
        await engine.dispose()


async def _create_database(target: sa.URL, database: str) -> None:
    maintenance = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with maintenance.connect() as connection:
            exists = await connection.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            )
            if not exists:
                await connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    finally:
        await maintenance.dispose()


async def _advance_sequences(connection: AsyncConnection, department: str, metadata: sa.MetaData) -> None:
    """The rows carry their own ids, so move each serial past them: later inserts must not collide."""
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        qualified = f'"{department}"."{table.name}"'
        next_value = f'coalesce(max("{column.name}"), 0) + 1'
        await connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), {next_value}, false) FROM {qualified}"
            ),
            {"table": qualified, "column": column.name},
        )


def asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("expected a postgresql:// URL")


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]


def _row_total(city: City) -> int:
    return sum(len(rows) for tables in city.rows.values() for rows in tables.values())


def _write_manifest(path: Path, city: City) -> None:
    manifest = {"scale": city.scale, "seed": city.seed, "rows": city.counts()}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, path)
