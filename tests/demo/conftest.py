"""The demo city at a small scale on SQLite, and throwaway PostgreSQL databases (when reachable; required in CI)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from govgraph.demo import generate_sqlite

SMALL_SCALE = 200
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("small-city")
    generate_sqlite(directory, scale=SMALL_SCALE, progress=False)
    return directory


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a database that does not exist yet on the local server; dropped afterwards if created."""
    _require_postgres()
    name = f"govgraph_test_demo_{secrets.token_hex(6)}"
    yield f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    connection = await asyncpg.connect(f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _require_postgres() -> None:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=1):
            return
    except OSError:
        pass
    where = f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{where} is required in CI (CI=true) but is unreachable")
    pytest.skip(f"{where} is unreachable")
