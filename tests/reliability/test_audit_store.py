"""A hung audit store costs each response a bounded wait, never its record, and withholds what it must."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from govgraph.audit.store import AuditStore
from tests.auth_helpers import bearer
from tests.faults import tcp_proxy
from tests.reliability.conftest import GENEROUS, audit_rows, fire
from tests.servers import govgraph_server

ZHANG_WEI = "110101199003071233"
SENSITIVE = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name registeredAddress maritalStatus }} }}'}
INTERNAL = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name birthDate }} }}'}
CLERK = bearer("window_clerk", "housing-subsidy")
POLICE = bearer("police_officer")


def request_id(response: httpx.Response) -> str:
    return str(response.json()["extensions"]["requestId"])


def assert_withheld(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    person = body["data"]["person"]
    assert person["name"] == "张伟"
    assert person["registeredAddress"] is None and person["maritalStatus"] is None
    assert "北京市东城区" not in response.text and "married" not in response.text
    codes = {tuple(error["path"]): error["extensions"]["code"] for error in body["errors"]}
    assert codes == {
        ("person", "registeredAddress"): "AUDIT_UNAVAILABLE",
        ("person", "maritalStatus"): "AUDIT_UNAVAILABLE",
    }


def assert_released(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["person"]["name"] == "张伟"


async def wait_for_records(database: str, wanted: set[str], attempts: int = 120) -> set[str]:
    """The request ids of ``wanted`` the store holds, polling until all are there or attempts run out."""
    found: set[str] = set()
    for _ in range(attempts):
        found = {row["request_id"] for row in await audit_rows(database)} & wanted
        if found == wanted:
            break
        await asyncio.sleep(0.5)
    return found


def test_a_paused_postgresql_audit_store_withholds_within_the_deadline_and_loses_no_record(
    audit_database: str, demo_dir: Path, tmp_path: Path
) -> None:
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        environ = {
            **GENEROUS,
            "GOVGRAPH_DEMO_DIR": str(demo_dir),
            "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{audit_database}",
            "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
            "GOVGRAPH_AUDIT_TIMEOUT": "2",
        }
        with govgraph_server(environ, tmp_path, workers=2) as server:
            warm = asyncio.run(fire(server.url, [(SENSITIVE, CLERK)] * 4))
            for response in warm:
                assert isinstance(response, httpx.Response)
                assert_released(response)

            proxy.pause()
            started = time.monotonic()
            during = asyncio.run(
                fire(server.url, [(SENSITIVE, CLERK)] * 20 + [(INTERNAL, POLICE)] * 10, timeout=60)
            )
            waited = time.monotonic() - started
            sensitive, internal = during[:20], during[20:]
            for response in sensitive:
                assert isinstance(response, httpx.Response), f"a sensitive request hung: {response!r}"
                assert_withheld(response)
            for response in internal:
                assert isinstance(response, httpx.Response), f"an internal request hung: {response!r}"
                assert_released(response)
            proxy.resume()

            after = asyncio.run(fire(server.url, [(SENSITIVE, CLERK)] * 5))
            for response in after:
                assert isinstance(response, httpx.Response)
                assert_released(response)

            released = {request_id(response) for response in [*warm, *internal, *after]}  # type: ignore[arg-type]
            found = asyncio.run(wait_for_records(audit_database, released))
            assert found == released, f"{len(released - found)} released responses have no audit record"
            output = server.output()
    assert waited < 60, "bounded: the requests answered (the exact time depends on the machine)"
    rows = asyncio.run(audit_rows(audit_database))
    assert len({row["request_id"] for row in rows}) == len(rows), "no record is stored twice"
    assert "journaled" in output

    async def verify() -> Any:
        store = AuditStore(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}")
        await store.open()
        try:
            return await store.verify()
        finally:
            await store.close()

    checked, broken = asyncio.run(verify())
    assert broken is None and checked == len(rows)


def test_a_locked_sqlite_audit_store_withholds_within_the_deadline(demo_dir: Path, tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    environ = {
        **GENEROUS,
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{database}",
        "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
        "GOVGRAPH_AUDIT_TIMEOUT": "1",
    }
    with govgraph_server(environ, tmp_path) as server:
        first = httpx.post(f"{server.url}/graphql", json=SENSITIVE, headers=CLERK, timeout=30)
        assert_released(first)
        # Waits its turn: the webhook dispatcher shares the file and writes now and then.
        holder = sqlite3.connect(database, timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            during = asyncio.run(
                fire(server.url, [(SENSITIVE, CLERK)] * 5 + [(INTERNAL, POLICE)] * 3, timeout=60)
            )
        finally:
            holder.rollback()
            holder.close()
        for response in during[:5]:
            assert isinstance(response, httpx.Response)
            assert_withheld(response)
        for response in during[5:]:
            assert isinstance(response, httpx.Response)
            assert_released(response)
        internal_ids = {request_id(response) for response in during[5:]}  # type: ignore[arg-type]
        for _ in range(120):
            with sqlite3.connect(database) as reader:
                stored = {row[0] for row in reader.execute("SELECT request_id FROM govgraph_audit_records")}
            if internal_ids <= stored:
                break
            time.sleep(0.5)
    assert internal_ids <= stored, "the journaled records reached the store once it was free"
