"""Load alone never makes a healthy department fail: every response is complete, or a clear 503."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.auth_helpers import bearer
from tests.faults import tcp_proxy
from tests.reliability.conftest import GENEROUS, POSTGRES, audit_rows, departments_at, fire
from tests.servers import govgraph_server

ZHANG_WEI = "110101199003071233"
PORTAL = """
query Portal($id: IdNumber!) {
  person(idNumber: $id) {
    name gender birthDate registeredAddress maritalStatus
    spouse { name }
    household { householdId address }
    socialInsurance { pensionInsured contributionMonths employer { name status } }
    properties { certificateNo mortgaged owners { share person { name } } }
    enterprises { name status }
    verify { incomeBelowLimit: annualIncome(lt: 60000) }
  }
}"""
REVIEW = """
query Review($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) { name maritalStatus socialInsurance { contributionMonths } properties { certificateNo } }
}"""
CONCURRENT = 500


def person_ids(demo_dir: Path, postgres_city: str | None, count: int) -> list[str]:
    if postgres_city is None:
        with sqlite3.connect(demo_dir / "public_security.db") as connection:
            rows = connection.execute(
                "SELECT resident_id FROM residents ORDER BY resident_id LIMIT ?", (count,)
            )
            return [row[0] for row in rows]

    async def read() -> list[str]:
        connection = await asyncpg.connect(f"{POSTGRES}/{postgres_city}")
        try:
            rows = await connection.fetch(
                "SELECT resident_id FROM public_security.residents ORDER BY resident_id LIMIT $1", count
            )
            return [row["resident_id"] for row in rows]
        finally:
            await connection.close()

    return asyncio.run(read())


def portal_requests(count: int, ids: list[str]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Mostly one-person portal checks, and every fifth a review office's list of a hundred people."""
    requests = []
    for index in range(count):
        headers = bearer("window_clerk", "housing-subsidy", subject=f"clerk-{index % 20}")
        if index % 5 == 4:
            offset = (index * 7) % (len(ids) - 100)
            requests.append(({"query": REVIEW, "variables": {"ids": ids[offset : offset + 100]}}, headers))
        else:
            requests.append(({"query": PORTAL, "variables": {"id": ZHANG_WEI}}, headers))
    return requests


def judge(
    responses: list[httpx.Response | BaseException],
) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """(complete 200s, clear 503s); anything else fails the test with what it was."""
    complete, shed = [], []
    for response in responses:
        assert isinstance(response, httpx.Response), f"no response: {response!r}"
        if response.status_code == 503:
            assert response.headers.get("retry-after", "").isdigit(), response.headers
            assert response.json()["errors"][0]["extensions"]["code"] == "OVERLOADED"
            shed.append(response)
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"][:3]
        if "person" in body["data"]:
            person = body["data"]["person"]
            assert person["name"] == "张伟" and person["socialInsurance"]["contributionMonths"] == 96
            assert person["verify"] == {"incomeBelowLimit": False}
        else:
            assert len(body["data"]["persons"]) == 100 and all(
                item["name"] for item in body["data"]["persons"]
            )
        complete.append(response)
    return complete, shed


@pytest.mark.parametrize("departments", ["sqlite", "postgres"])
def test_500_concurrent_requests_are_all_complete_or_refused_clearly(
    departments: str, postgres_city: str, audit_database: str, demo_dir: Path, tmp_path: Path
) -> None:
    environ = {
        **GENEROUS,
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}",
        "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
    }
    if departments == "postgres":
        environ.update(departments_at(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{postgres_city}"))
    with govgraph_server(environ, tmp_path, workers=2) as server:
        ids = person_ids(demo_dir, postgres_city if departments == "postgres" else None, 400)
        responses = asyncio.run(fire(server.url, portal_requests(CONCURRENT, ids)))
        complete, shed = judge(responses)
        output = server.output()
    assert len(complete) + len(shed) == CONCURRENT
    assert len(complete) >= CONCURRENT // 2, f"only {len(complete)} complete, {len(shed)} shed"
    assert "timed out" not in output and "circuit" not in output, output[-3000:]
    recorded = {row["request_id"] for row in asyncio.run(audit_rows(audit_database))}
    released = {response.json()["extensions"]["requestId"] for response in complete}
    assert released <= recorded, f"{len(released - recorded)} released responses have no audit record"
    assert len(recorded) == len(released)


def test_a_far_but_healthy_department_is_not_failed_by_queueing(
    postgres_city: str, audit_database: str, tmp_path: Path
) -> None:
    """Every query to the departments takes 60 ms more (a slow network): waiting for a slot inside govgraph
    takes far longer than a department's 2 s timeout, yet no department is blamed for it."""
    with tcp_proxy("127.0.0.1", 5432, latency=0.03) as far:
        environ = {
            **GENEROUS,
            **departments_at(f"postgresql+asyncpg://postgres@127.0.0.1:{far.port}/{postgres_city}"),
            "GOVGRAPH_AUDIT_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database}",
            "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
            "GOVGRAPH_REQUEST_TIMEOUT": "60",
            "GOVGRAPH_POOL_SIZE": "4",
        }
        with govgraph_server(environ, tmp_path, workers=1) as server:
            responses = asyncio.run(
                fire(server.url, portal_requests(300, person_ids(Path(), postgres_city, 400)))
            )
            complete, shed = judge(responses)
            output = server.output()
    assert len(complete) + len(shed) == 300
    assert len(complete) >= 64, "at least the admitted requests complete"
    assert "timed out" not in output and "circuit" not in output, output[-3000:]
