"""Fixtures shared by the change-detection and bus tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govgraph.demo import load_postgres
from tests.conftest import require_service

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
async def postgres_city() -> AsyncIterator[str]:
    """A small PostgreSQL demo city of the test's own: the session's must not change under other tests."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"govgraph_test_events_{uuid.uuid4().hex[:12]}"
    await load_postgres(f"{PG}/{database}", scale=30, progress=False)
    yield f"{PG}/{database}"
    connection = await asyncpg.connect(f"{PG}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await connection.close()
