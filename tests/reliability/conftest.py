"""Real servers under load and faults: PostgreSQL databases of the tests' own, proxies, counting helpers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from govgraph.demo import load_postgres
from govgraph.demo.layout import DEPARTMENTS
from tests.conftest import require_service

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
RELIABILITY_SCALE = 400
GENEROUS = {
    "GOVGRAPH_RATE_LIMIT_PER_SUBJECT": "1000000",
    "GOVGRAPH_RATE_LIMIT_PER_DEPARTMENT": "1000000",
    "GOVGRAPH_RATE_LIMIT_ANONYMOUS": "1000000",
    "GOVGRAPH_MAX_VERIFY_QUESTIONS_PER_WINDOW": "1000000",
}


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_city() -> Iterator[str]:
    """A small demo city in a PostgreSQL database of this session's own: its name."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"govgraph_reliability_{uuid.uuid4().hex[:10]}"
    asyncio.run(load_postgres(f"{POSTGRES}/{name}", scale=RELIABILITY_SCALE, progress=False))
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def audit_database() -> Iterator[str]:
    """An empty PostgreSQL database for one test's audit store: its name (the tables are govgraph's to make)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"govgraph_audit_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def departments_at(url: str) -> dict[str, str]:
    return {f"GOVGRAPH_{department.upper()}_URL": url for department in DEPARTMENTS}


async def audit_rows(database: str, port: int = 5432) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/{database}")
    try:
        rows = await connection.fetch(
            "SELECT position, request_id FROM govgraph_audit_records ORDER BY position"
        )
        return [dict(row) for row in rows]
    finally:
        await connection.close()


async def fire(
    url: str, requests: list[tuple[dict[str, Any], dict[str, str]]], timeout: float = 120.0
) -> list[httpx.Response | BaseException]:
    """All requests at once, each on a connection of its own; a response or the exception for each."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(client.post("/graphql", json=body, headers=headers) for body, headers in requests),
                return_exceptions=True,
            )
        )
