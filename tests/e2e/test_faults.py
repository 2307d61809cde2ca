"""Department faults: only the failed department's fields go null, with SOURCE_UNAVAILABLE, in bounded time."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govgraph.settings import DEMO_CATALOG
from tests.auth_helpers import bearer
from tests.conftest import AppFactory, graphql

ZHANG_WEI = "110101199003071233"
TAX = bearer("tax_officer", "tax-audit")
NEVER_ANSWERS = 60.0
"""Seconds to wait, at most, for a request to a server that never answers: a bound for the test, not a
measure. Only govgraph's own timeout or deadline can end such a request; the outcome says which did."""
QUERY = """
query($id: IdNumber!) {
  person(idNumber: $id) { name maritalStatus annualIncome taxCompliant properties { certificateNo } }
}"""


@pytest.fixture
def fast_timeout_catalog(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, directory)
    taxation = directory / "departments" / "taxation.yaml"
    taxation.write_text(
        taxation.read_text(encoding="utf-8").replace("timeout: 2.0", "timeout: 0.3"), encoding="utf-8"
    )
    return directory


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hanging department."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    yield listener.getsockname()[1]
    listener.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def assert_only_taxation_failed(body: dict[str, Any]) -> None:
    person = body["data"]["person"]
    assert person["name"] == "张伟"
    assert person["maritalStatus"] == "married"
    assert person["properties"]
    assert person["annualIncome"] is None and person["taxCompliant"] is None
    errors = {tuple(error["path"]): error for error in body["errors"]}
    for field in ("annualIncome", "taxCompliant"):
        assert errors[("person", field)]["extensions"] == {
            "code": "SOURCE_UNAVAILABLE",
            "department": "taxation",
        }
    text = str(body)
    for secret in ("sqlite", "postgresql", "127.0.0.1", "SELECT", "Traceback", "taxation.db"):
        assert secret not in text


async def test_missing_sqlite_file_gives_partial_data(
    app_factory: AppFactory, demo_dir: Path, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    shutil.copytree(demo_dir, city)
    (city / "taxation.db").unlink()
    _, client = await app_factory({"GOVGRAPH_DEMO_DIR": str(city)})

    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": ZHANG_WEI}}, headers=TAX
    )

    assert response.status_code == 200
    assert_only_taxation_failed(response.json())
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    departments = ready.json()["departments"]
    assert departments["taxation"]["status"] == "unavailable"
    assert "unable to open database file" in departments["taxation"]["problem"]
    assert departments["civil_affairs"]["status"] == "ok"
    assert not (city / "taxation.db").exists(), "a department's database is never govgraph's to create"


async def test_stopped_postgresql_department_gives_partial_data(
    app_factory: AppFactory, demo_dir: Path
) -> None:
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_URL": f"postgresql+asyncpg://postgres:secret-password@127.0.0.1:{closed_port()}/gone",
    }
    _, client = await app_factory(environ)

    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": ZHANG_WEI}}, headers=TAX
    )

    assert response.status_code == 200
    assert_only_taxation_failed(response.json())
    assert "secret-password" not in response.text


async def test_hanging_department_times_out_and_the_request_stays_bounded(
    app_factory: AppFactory, demo_dir: Path, fast_timeout_catalog: Path, silent_server: int
) -> None:
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{silent_server}/hangs",
    }
    _, client = await app_factory(environ, catalog=fast_timeout_catalog)

    body = await asyncio.wait_for(graphql(client, QUERY, {"id": ZHANG_WEI}, TAX), NEVER_ANSWERS)

    assert_only_taxation_failed(body)
    reasons = {error["message"] for error in body["errors"]}
    assert reasons == {"department taxation is timed out"}, "its own timeout ended the wait"


async def test_request_deadline_bounds_the_whole_request(
    app_factory: AppFactory, demo_dir: Path, silent_server: int
) -> None:
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{silent_server}/hangs",
    }
    _, client = await app_factory(environ, request_timeout=0.4)

    body = await asyncio.wait_for(graphql(client, QUERY, {"id": ZHANG_WEI}, TAX), NEVER_ANSWERS)
    reasons = {error["message"] for error in body["errors"]}
    assert reasons == {
        "department taxation is past the request's deadline",
        "department natural_resources is past the request's deadline",
    }, "the request's deadline, not a department's timeout, ended the wait"
    person = body["data"]["person"]
    assert (person["name"], person["maritalStatus"], person["annualIncome"]) == ("张伟", "married", None)
    errors = {tuple(error["path"]): error["extensions"] for error in body["errors"]}
    assert errors[("person", "annualIncome")] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}, (
        body
    )
    # The list's lookup went out with the person's row and answered; its members' rows, asked only
    # after the deadline had passed, fail fast.
    assert errors.get(("person", "properties", 0, "certificateNo")) == {
        "code": "SOURCE_UNAVAILABLE",
        "department": "natural_resources",
    }, "fetches after the deadline fail fast"


async def test_circuit_breaker_opens_then_fails_fast_then_closes(
    app_factory: AppFactory, demo_dir: Path, tmp_path: Path
) -> None:
    city = tmp_path / "city"
    shutil.copytree(demo_dir, city)
    saved = tmp_path / "taxation.db"
    shutil.move(city / "taxation.db", saved)
    _, client = await app_factory(
        {"GOVGRAPH_DEMO_DIR": str(city)}, breaker_failures=2, breaker_cool_down=0.5, cache_min_max_age=0
    )
    headers = {**TAX, "Cache-Control": "no-cache"}

    for _ in range(2):
        await graphql(client, QUERY, {"id": ZHANG_WEI}, headers)
    shutil.copy(saved, city / "taxation.db")
    fast = await graphql(client, QUERY, {"id": ZHANG_WEI}, headers)
    assert fast["data"]["person"]["annualIncome"] is None, "the circuit is open: no call reaches taxation"

    await asyncio.sleep(0.6)
    probed = await graphql(client, QUERY, {"id": ZHANG_WEI}, headers)
    assert probed["data"]["person"]["annualIncome"] == 186000
    assert "errors" not in probed
