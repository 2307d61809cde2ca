"""Start-up: the connection budget is printed and enforced, tables are created once, workers get time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from tests.auth_helpers import bearer
from tests.reliability.conftest import GENEROUS, audit_rows, departments_at
from tests.servers import free_port, govgraph_server, wait_for_subscriptions

ZHANG_WEI = "110101199003071233"
SENSITIVE = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus }} }}'}


def serve(environ: dict[str, str], tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "govgraph.cli", "serve", "--port", str(free_port()), *arguments],
        env={**os.environ, **environ},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_budget_over_what_postgresql_admits_refuses_to_start(
    postgres_city: str, audit_database: str, tmp_path: Path
) -> None:
    environ = {
        **departments_at(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{postgres_city}"),
        "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}",
        "GOVGRAPH_POOL_SIZE": "60",
    }
    finished = serve(environ, tmp_path, "--workers", "2")
    assert finished.returncode == 2
    lines = finished.stderr.splitlines()
    assert any(
        "PostgreSQL 127.0.0.1:5432: 2 worker(s) × [60 (departments civil_affairs" in line for line in lines
    )
    assert any(
        line.startswith("govgraph: refusing to start: PostgreSQL 127.0.0.1:5432 admits") for line in lines
    )
    assert "would open 150" in finished.stderr and "GOVGRAPH_POOL_SIZE" in finished.stderr
    assert "Traceback" not in finished.stderr


async def connections_to(*databases: str) -> int:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1::text[])", list(databases)
            )
        )
    finally:
        await connection.close()


def test_two_workers_start_together_on_fresh_stores_and_print_their_budget(
    postgres_city: str, audit_database: str, tmp_path: Path
) -> None:
    environ = {
        **GENEROUS,
        **departments_at(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{postgres_city}"),
        "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}",
        "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
    }
    with govgraph_server(environ, tmp_path, workers=2) as server:
        responses = [
            httpx.post(
                f"{server.url}/graphql",
                json=SENSITIVE,
                headers=bearer("window_clerk", "housing-subsidy"),
                timeout=30,
            )
            for _ in range(6)
        ]
        wait_for_subscriptions(server.url)
        opened = asyncio.run(connections_to(postgres_city, audit_database))
        output = server.output()
    assert all(response.status_code == 200 and "errors" not in response.json() for response in responses)
    assert len(asyncio.run(audit_rows(audit_database))) == 6
    assert (
        "2 worker(s) × [8 (departments civil_affairs, human_resources, market_regulation, natural_resources, "
        "public_security, taxation) + 4 (audit store) + 9 (change feeds civil_affairs, market_regulation, "
        "natural_resources, public_security) + 2 (webhook outbox)] = 46 connections" in output
    )
    assert opened <= 46, "every connection the workers opened was counted"
    assert "Traceback" not in output, output[-3000:]


def test_two_workers_start_together_on_a_fresh_sqlite_audit_store(demo_dir: Path, tmp_path: Path) -> None:
    environ = {
        **GENEROUS,
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{tmp_path}/fresh/audit.db",
        "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
    }
    with govgraph_server(environ, tmp_path, workers=2) as server:
        for _ in range(4):
            response = httpx.post(
                f"{server.url}/graphql",
                json=SENSITIVE,
                headers=bearer("window_clerk", "housing-subsidy"),
                timeout=30,
            )
            assert response.status_code == 200 and "errors" not in response.json()
        output = server.output()
    assert "Traceback" not in output and "already exists" not in output, output[-3000:]
