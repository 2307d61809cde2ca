"""Every settings and CLI mistake an operator is known to make ends in one sentence and exit status 2:
the sentence names the ``GOVGRAPH_*`` variable (or the option) and what it expects, with no traceback
unless ``--debug`` is given, and never echoes a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

SECRET = "s3cret-password-9f2c"


def govgraph(arguments: list[str], environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("GOVGRAPH_")}
    return subprocess.run(
        [sys.executable, "-m", "govgraph.cli", *arguments],
        env={**base, **environ},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


MISTAKES = {
    "production without a key": (
        ["serve", "--port", "0"],
        {"GOVGRAPH_ENVIRONMENT": "production"},
        "GOVGRAPH_JWT_PUBLIC_KEY_FILE or GOVGRAPH_JWT_JWKS_URL",
    ),
    "a CORS origin that is not a JSON list": (
        ["serve", "--port", "0"],
        {"GOVGRAPH_CORS_ALLOW_ORIGINS": "https://portal.example.gov"},
        "GOVGRAPH_CORS_ALLOW_ORIGINS: expected a JSON list of strings",
    ),
    "a number that is not a number": (
        ["serve", "--port", "0"],
        {"GOVGRAPH_MAX_KEYS": "many"},
        "GOVGRAPH_MAX_KEYS: expected a whole number",
    ),
    "an environment that does not exist": (
        ["audit", "verify"],
        {"GOVGRAPH_ENVIRONMENT": "prod"},
        "GOVGRAPH_ENVIRONMENT: expected one of development, production",
    ),
    "audit verify from another directory": (
        ["audit", "verify"],
        {},
        "no audit store at",
    ),
    "--url given a file path": (
        ["audit", "verify", "--url", "var/audit.db"],
        {},
        "--url must be a database URL, not a file path: write sqlite+aiosqlite:///var/audit.db",
    ),
    "a postgresql:// audit URL without +asyncpg": (
        ["audit", "export"],
        {"GOVGRAPH_AUDIT_URL": f"postgresql://govgraph:{SECRET}@127.0.0.1:5432/audit"},
        "GOVGRAPH_AUDIT_URL must use the asyncpg driver: write postgresql+asyncpg://",
    ),
    "an audit store that cannot be reached": (
        ["audit", "verify"],
        {"GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://govgraph:{SECRET}@127.0.0.1:{free_port()}/audit"},
        "the audit store (GOVGRAPH_AUDIT_URL) cannot be read",
    ),
    "Redis unreachable for cache invalidate": (
        ["cache", "invalidate", "--department", "taxation"],
        {"GOVGRAPH_CACHE_URL": f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"},
        "the shared cache (GOVGRAPH_CACHE_URL) cannot be reached",
    ),
    "a cache URL that is not Redis": (
        ["cache", "invalidate", "--department", "taxation"],
        {"GOVGRAPH_CACHE_URL": "memcached://127.0.0.1:11211"},
        "GOVGRAPH_CACHE_URL must be a Redis URL",
    ),
    "a catalog directory that does not exist": (
        ["serve", "--catalog", "/nonexistent/catalog", "--port", "0"],
        {},
        "/nonexistent/catalog: catalog directory not found",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_ends_in_one_sentence_with_status_2(mistake: str, tmp_path: Path) -> None:
    arguments, environ, sentence = MISTAKES[mistake]
    finished = govgraph(arguments, environ, tmp_path)

    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("govgraph: ") and sentence in last, last
    assert SECRET not in finished.stderr + finished.stdout
    assert not (tmp_path / "var").exists(), "a mistaken command creates nothing"


def test_debug_adds_the_traceback_anywhere_on_the_line(tmp_path: Path) -> None:
    finished = govgraph(["serve", "--port", "0", "--debug"], {"GOVGRAPH_MAX_KEYS": "many"}, tmp_path)

    assert finished.returncode == 2
    assert "Traceback" in finished.stderr
    assert finished.stderr.strip().splitlines()[-1].startswith("govgraph: GOVGRAPH_MAX_KEYS")


def test_audit_verify_reads_a_store_in_its_directory(tmp_path: Path) -> None:
    import asyncio

    from govgraph.audit.store import AuditStore

    (tmp_path / "var").mkdir()

    async def create() -> None:
        store = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'audit.db'}")
        await store.open()
        await store.close()

    asyncio.run(create())
    finished = govgraph(["audit", "verify"], {}, tmp_path)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "audit chain ok: 0 records"


@pytest.mark.postgres
def test_audit_verify_names_a_missing_database_instead_of_creating_it(tmp_path: Path) -> None:
    import uuid

    name = f"govgraph_missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    finished = govgraph(["audit", "verify", "--url", url], {}, tmp_path)

    assert finished.returncode == 2 and "Traceback" not in finished.stderr
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith(f'govgraph: audit store: database "{name}" does not exist'), last
    assert f'create it with: CREATE DATABASE "{name}";' in last

    async def exists() -> bool:
        import asyncpg

        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            return await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is not None
        finally:
            await connection.close()

    import asyncio

    assert not asyncio.run(exists()), "a read command creates no database"
