"""Shared fixtures: the demo city on SQLite (always) and PostgreSQL (when reachable; required in CI)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app
from govgraph.demo import generate_sqlite, load_postgres
from govgraph.demo.layout import DEPARTMENTS

TEST_SCALE = 1500
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} on {host}:{port} is required in CI (CI=true) but is unreachable")
    pytest.skip(f"{name} on {host}:{port} is unreachable")


@asynccontextmanager
async def empty_postgres_database(prefix: str) -> AsyncIterator[str]:
    """A throwaway, empty PostgreSQL database (``postgresql://`` URL), dropped at the end."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"{POSTGRES}/{database}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    generate_sqlite(directory, scale=TEST_SCALE, progress=False)
    return directory


@pytest.fixture(scope="session")
def postgres_demo_url() -> Iterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"govgraph_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(
        load_postgres(f"postgresql://postgres@127.0.0.1:5432/{database}", scale=TEST_SCALE, progress=False)
    )
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    asyncio.run(_drop_database(database))


async def _drop_database(database: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()


def sqlite_environ(demo_dir: Path) -> dict[str, str]:
    return {"GOVGRAPH_DEMO_DIR": str(demo_dir)}


def postgres_environ(url: str) -> dict[str, str]:
    return {f"GOVGRAPH_{department.upper()}_URL": url for department in DEPARTMENTS}


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def environ(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "postgres":
        return postgres_environ(request.getfixturevalue("postgres_demo_url"))
    return sqlite_environ(request.getfixturevalue("demo_dir"))


@pytest.fixture(scope="session")
def audit_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session app's audit store: SQLite beside the demo, or the PostgreSQL test database."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_demo_url")
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"


def settings_for(audit_url: str, spool: Path, **overrides: Any) -> Settings:
    """The shared test app: generous rate limits and question budgets, since the whole suite talks to it
    from one address with the same few officers; tests of those limits start apps of their own."""
    generous = {
        "rate_limit_per_subject": 1e6,
        "rate_limit_per_department": 1e6,
        "rate_limit_anonymous": 1e6,
        "max_verify_questions_per_window": 1_000_000,
    }
    return Settings(audit_url=audit_url, audit_spool=spool, **{**generous, **overrides})


@pytest.fixture(scope="session")
async def app(
    environ: dict[str, str], audit_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Starlette]:
    spool = tmp_path_factory.mktemp("spool") / "audit-spool.jsonl"
    application = create_app(settings_for(audit_url, spool), environ=environ)
    async with LifespanManager(application):
        yield application


AppFactory = Callable[..., Awaitable[tuple[Starlette, httpx.AsyncClient]]]


@pytest.fixture
async def app_factory(environ: dict[str, str], tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Apps of a test's own, with their own audit store, settings and (memory) cache; closed after the test."""
    async with AsyncExitStack() as stack:

        async def start(
            environ_override: dict[str, str] | None = None, **options: Any
        ) -> tuple[Starlette, httpx.AsyncClient]:
            name = uuid.uuid4().hex[:8]
            settings = Settings(
                audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit-{name}.db",
                audit_spool=tmp_path / f"{name}.jsonl",
                **options,
            )
            application = create_app(settings, environ=environ_override or environ)
            await stack.enter_async_context(LifespanManager(application))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://govgraph.test"
                )
            )
            return application, client

        yield start


@pytest.fixture(scope="session")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test"
    ) as http:
        yield http


class QueryCounter:
    """Counts the statements each department's source really sends to its database."""

    def __init__(self, app: Starlette) -> None:
        self.sources = app.state.sources
        self._start = {department: source.queries for department, source in self.sources.items()}

    @property
    def counts(self) -> dict[str, int]:
        return {
            department: source.queries - self._start[department]
            for department, source in self.sources.items()
        }

    def reset(self) -> None:
        self._start = {department: source.queries for department, source in self.sources.items()}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def remove(self) -> None:
        pass


@pytest.fixture
def queries(app: Starlette) -> Iterator[QueryCounter]:
    counter = QueryCounter(app)
    yield counter
    counter.remove()


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()
