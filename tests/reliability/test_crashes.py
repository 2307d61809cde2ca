"""No record of a released response is lost to kill -9, and a journal is replayed once by many workers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from govgraph.audit.journal import Journal
from govgraph.audit.records import AuditRecord, EntityAccess, FieldDecision
from tests.auth_helpers import bearer
from tests.reliability.conftest import GENEROUS, audit_rows
from tests.servers import govgraph_server

ZHANG_WEI = "110101199003071233"
SENSITIVE = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus }} }}'}
INTERNAL = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name birthDate }} }}'}


def record(index: int) -> AuditRecord:
    return AuditRecord(
        request_id=f"journaled-{index}-{uuid.uuid4().hex}",
        occurred_at="2026-12-01T08:00:00.000000Z",
        subject="officer-police_officer",
        department="public_security",
        roles=("police_officer",),
        purpose=None,
        operation_name=None,
        document_hash="0" * 64,
        client_address="127.0.0.1",
        entities=(EntityAccess("Person", "public_security", (ZHANG_WEI,)),),
        fields=(FieldDecision("Person.name", "public_security", "internal", "read"),),
    )


def workers_of(pid: int) -> list[str]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [
        child for child in children if "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_text()
    ]


def test_two_workers_replay_a_journal_once(audit_database: str, demo_dir: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    written = [record(index) for index in range(300)]
    Journal(journal).append(written[:200])
    Journal(journal).append(written[150:])  # a record journaled twice is still stored once
    environ = {
        **GENEROUS,
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}",
        "GOVGRAPH_AUDIT_SPOOL": str(journal),
    }
    with govgraph_server(environ, tmp_path, workers=2) as server:
        expected = sorted(item.request_id for item in written)
        stored: list[str] = []
        for _ in range(120):  # one worker replays at start-up; the other may be serving already
            stored = sorted(row["request_id"] for row in asyncio.run(audit_rows(audit_database)))
            if len(stored) >= len(expected) and not Journal(journal).pending():
                break
            time.sleep(0.25)
        assert stored == expected
        assert [path.name for path in tmp_path.glob("journal.jsonl*.replaying")] == []
        assert len(workers_of(server.process.pid)) == 2, "both workers are alive"
        output = server.output()
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.parametrize("store", ["up", "down"])
def test_kill_9_loses_no_record_of_a_released_response(
    store: str, audit_database: str, demo_dir: Path, tmp_path: Path
) -> None:
    """Requests flow while the whole server (master and workers) is killed with SIGKILL; on restart,
    every response that was released has its record. With the store down, only what was journaled can
    have been released, so the journal must hold it."""
    journal = tmp_path / "journal.jsonl"
    down_url = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"
    up_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}"
    environ = {
        **GENEROUS,
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": up_url if store == "up" else down_url,
        "GOVGRAPH_AUDIT_SPOOL": str(journal),
        "GOVGRAPH_AUDIT_TIMEOUT": "1",
    }
    released: set[str] = set()
    with govgraph_server(environ, tmp_path, workers=2) as server:

        async def traffic() -> None:
            limits = httpx.Limits(max_connections=40)
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:

                async def one(index: int) -> None:
                    body = SENSITIVE if index % 2 else INTERNAL
                    headers = (
                        bearer("window_clerk", "housing-subsidy") if index % 2 else bearer("police_officer")
                    )
                    try:
                        response = await client.post("/graphql", json=body, headers=headers)
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200 and "errors" not in response.json():
                        released.add(response.json()["extensions"]["requestId"])

                tasks = [asyncio.create_task(one(index)) for index in range(400)]
                for _ in range(200):
                    await asyncio.sleep(0.02)
                    if len(released) >= 60:
                        break
                server.kill(signal.SIGKILL)
                await asyncio.gather(*tasks)

        asyncio.run(traffic())
        server.process.wait(timeout=30)
    assert len(released) >= 60, f"only {len(released)} responses before the kill"

    # Restart with the store up: the journal is replayed at start-up.
    restart = {**environ, "GOVGRAPH_AUDIT_URL": up_url}
    with govgraph_server(restart, tmp_path, workers=1):
        stored = {row["request_id"] for row in asyncio.run(audit_rows(audit_database))}
    assert released <= stored, (
        f"{len(released - stored)} of {len(released)} released responses lost their record"
    )
    if store == "down":
        assert sys.platform.startswith("linux")
