"""The demo city the benchmarks run against: PostgreSQL when reachable, SQLite otherwise.

PostgreSQL: ``BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/govgraph_bench``) holds the city, loaded
once and reused while the demo generator and scale are unchanged; audit stores
are databases of their own beside it, made fresh for each run. SQLite: the city
is generated into a temporary directory. ``BENCH_BACKEND=sqlite`` forces SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import asyncpg

import govgraph.demo
from govgraph.demo import generate_sqlite, load_postgres
from govgraph.demo.layout import DEPARTMENTS

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/govgraph_bench"
SCALE = int(os.environ.get("BENCH_SCALE", "10000"))
"""Persons in the city: enough for the 10,000-key scaling run."""


@dataclass
class City:
    backend: str
    """``PostgreSQL`` or ``SQLite``."""
    scale: int
    database_url: str | None = None
    directory: Path | None = None
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="govgraph-bench-")))
    _audit_databases: list[str] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        return self.database_url is not None

    def environ(self) -> dict[str, str]:
        """What ``create_app`` or ``govgraph serve`` needs to find the departments."""
        if self.database_url:
            url = self.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
            return {f"GOVGRAPH_{department.upper()}_URL": url for department in DEPARTMENTS}
        return {"GOVGRAPH_DEMO_DIR": str(self.directory)}

    async def audit_url(self, name: str) -> str:
        """An empty audit store of its own: a fresh database on PostgreSQL, a new file on SQLite."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.scratch}/audit-{name}.db"
        database = f"govgraph_bench_audit_{name}_{uuid.uuid4().hex[:8]}"
        await _admin(self.database_url, f'CREATE DATABASE "{database}"')
        self._audit_databases.append(database)
        return f"postgresql+asyncpg://{_server(self.database_url)}/{database}"

    async def ids(self, count: int, offset: int = 0) -> list[str]:
        """Resident ID numbers in a fixed order."""
        statement = "SELECT resident_id FROM {table} ORDER BY resident_id LIMIT {count} OFFSET {offset}"
        if self.database_url:
            connection = await asyncpg.connect(self.database_url)
            try:
                rows = await connection.fetch(
                    statement.format(table="public_security.residents", count="$1", offset="$2"),
                    count,
                    offset,
                )
            finally:
                await connection.close()
            return [row[0] for row in rows]
        assert self.directory is not None
        async with aiosqlite.connect(self.directory / "public_security.db") as connection:
            cursor = await connection.execute(
                statement.format(table="residents", count="?", offset="?"), (count, offset)
            )
            return [row[0] for row in await cursor.fetchall()]

    async def close(self) -> None:
        for database in self._audit_databases:
            assert self.database_url
            await _admin(self.database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self._audit_databases.clear()


async def open_city(scale: int = SCALE) -> City:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if os.environ.get("BENCH_BACKEND", "").lower() != "sqlite" and await _reachable(url):
        await _ensure_loaded(url, scale)
        return City("PostgreSQL", scale, database_url=url)
    directory = Path(tempfile.mkdtemp(prefix="govgraph-bench-city-"))
    await asyncio.to_thread(generate_sqlite, directory, scale, progress=False)
    return City("SQLite", scale, directory=directory)


def _fingerprint(scale: int) -> str:
    """Changes whenever the demo generator or its catalog does, so a stale city is reloaded."""
    digest = hashlib.sha256(str(scale).encode())
    root = Path(govgraph.demo.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".yaml"):
            digest.update(path.read_bytes())
    return digest.hexdigest()


async def _ensure_loaded(url: str, scale: int) -> None:
    fingerprint = _fingerprint(scale)
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        connection = None
    if connection is not None:
        try:
            loaded = await connection.fetchval("SELECT fingerprint FROM public.govgraph_bench_city")
        except asyncpg.UndefinedTableError:
            loaded = None
        finally:
            await connection.close()
        if loaded == fingerprint:
            return
    print(f"loading the demo city ({scale} persons) into {_redacted(url)} ...", flush=True)
    await load_postgres(url, scale=scale, progress=False)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS public.govgraph_bench_city;"
            " CREATE TABLE public.govgraph_bench_city (fingerprint text NOT NULL);"
            " ANALYZE;"
        )
        await connection.execute("INSERT INTO public.govgraph_bench_city VALUES ($1)", fingerprint)
    finally:
        await connection.close()


async def _reachable(url: str) -> bool:
    try:
        connection = await asyncpg.connect(_maintenance(url), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_maintenance(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _server(url: str) -> str:
    """``user@host:port`` of a ``postgresql://user@host:port/database`` URL."""
    return url.split("://", 1)[1].rsplit("/", 1)[0]


def _maintenance(url: str) -> str:
    return f"postgresql://{_server(url)}/postgres"


def _redacted(url: str) -> str:
    server = _server(url)
    host = server.rsplit("@", 1)[-1]
    return f"postgresql://{host}/{url.rsplit('/', 1)[1]}"
