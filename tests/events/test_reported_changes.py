"""A department behind a service reports its changes: ``POST /changes/{department}``, against a running server.

The demo's taxation department is served by its JSON API (``demo/apis/taxation.yaml``),
which reports a change to ``tax_compliant`` the way a department's system
would: signed with the shared secret. The tests read what a WebSocket
subscriber and a webhook receiver are sent, and what govgraph's store holds,
for calls that are good, forged, stale, repeated, or that carry a value.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from govgraph.demo.api import department_api
from govgraph.demo.golden import LI_NA, ZHANG_WEI
from govgraph.events.signing import headers, new_secret
from tests.apis import CHANGES_SECRET, catalog_with, serving
from tests.auth_helpers import token
from tests.events.test_webhook_delivery import Receiver
from tests.servers import Server, demo_environ, free_port, govgraph_server, wait_for_subscriptions
from tests.sources.test_http_source import API_FILE, DEMO_TABLES, TOKEN

BOUND = 30.0
"""The longest a test waits for one message; passing never depends on it."""

TAX_SUBSCRIPTION = """subscription Compliance {
  changes(entity: Person, fields: [taxCompliant], purpose: "tax-audit") {
    key changedFields person { name taxCompliant }
  }
}"""
LEAKED_VALUE = "VALUE-MUST-NOT-BE-KEPT-7731"


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


@pytest.fixture
def api(city: Path) -> Iterator[str]:
    with serving(department_api(city / "taxation.db", published=DEMO_TABLES["taxation"], token=TOKEN)) as url:
        yield url


def _environ(city: Path, tmp_path: Path, api: str) -> dict[str, str]:
    catalog = tmp_path / "catalog"
    if not catalog.exists():
        catalog_with(tmp_path, API_FILE, "taxation")
    return demo_environ(
        city,
        tmp_path,
        GOVGRAPH_CATALOG=str(catalog),
        GOVGRAPH_TAXATION_API=api,
        GOVGRAPH_TAXATION_API_TOKEN=TOKEN,
        GOVGRAPH_TAXATION_CHANGES_SECRET=CHANGES_SECRET,
        GOVGRAPH_EVENTS_POLL_INTERVAL="0.2",
        GOVGRAPH_WEBHOOK_BACKOFF="[0.2, 0.5, 1]",
        GOVGRAPH_WEBHOOK_LEASE="5",
        GOVGRAPH_WEBHOOK_TIMEOUT="2",
    )


@pytest.fixture
def server(city: Path, tmp_path: Path, api: str) -> Iterator[Server]:
    with govgraph_server(_environ(city, tmp_path, api), tmp_path) as running:
        wait_for_subscriptions(running.url)
        yield running


def _non_compliant(city: Path, key: str) -> None:
    """What the tax office's own system does before it reports the change."""
    with sqlite3.connect(city / "taxation.db") as connection:
        updated = connection.execute(
            "UPDATE individual_taxpayers SET tax_compliant = 0 WHERE taxpayer_id_no = ?", (key,)
        ).rowcount
    assert updated == 1


def _body(*changes: dict[str, Any]) -> bytes:
    return orjson.dumps({"changes": list(changes)})


def _change(
    key: str = ZHANG_WEI, columns: tuple[str, ...] = ("tax_compliant",), **more: Any
) -> dict[str, Any]:
    return {"entity": "Person", "key": key, "columns": list(columns), **more}


def _post(
    server: Server,
    body: bytes,
    *,
    secret: str = CHANGES_SECRET,
    message_id: str = "",
    now: float | None = None,
    department: str = "taxation",
) -> httpx.Response:
    signed = headers(secret, message_id or f"msg_{time.monotonic_ns()}", body, now=now)
    return httpx.post(
        f"{server.url}/changes/{department}",
        content=body,
        headers={**signed, "Content-Type": "application/json"},
        timeout=BOUND,
    )


def _received(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        return connection.execute(
            "SELECT department, entity, entity_key, changed_columns FROM govgraph_received_changes ORDER BY id"
        ).fetchall()


async def _open(server: Server, role: str) -> ClientConnection:
    socket = await connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token(role)}"}})
    )
    assert json.loads(await asyncio.wait_for(socket.recv(), BOUND)) == {"type": "connection_ack"}
    return socket


async def _subscribe(server: Server, socket: ClientConnection, query: str, live: int) -> None:
    await socket.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": query}}))
    async with httpx.AsyncClient(timeout=BOUND) as client:
        for _ in range(300):
            body = (await client.get(f"{server.url}/readyz")).json()
            if body["subscriptions"]["live"] >= live:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server never held {live} live subscriptions")


async def _next(socket: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), BOUND))
        if message["type"] != "ping":
            return message


async def _send_with_the_cli(server: Server, key: str, columns: str = "tax_compliant") -> str:
    command = [
        sys.executable,
        "-m",
        "govgraph.cli",
        "events",
        "send",
        "--catalog",
        str(server_catalog(server)),
    ]
    command += ["--department", "taxation", "--entity", "Person", "--key", key, "--columns", columns]
    command += ["--url", server.url]
    finished = await asyncio.to_thread(
        subprocess.run,
        command,
        env={**os.environ, "GOVGRAPH_TAXATION_CHANGES_SECRET": CHANGES_SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def server_catalog(server: Server) -> Path:
    return server.log.parent / "catalog"


async def test_a_reported_change_reaches_the_subscriber_with_the_department_s_current_value(
    server: Server, city: Path
) -> None:
    tax = await _open(server, "tax_officer")
    await _subscribe(server, tax, TAX_SUBSCRIPTION, live=1)
    _non_compliant(city, ZHANG_WEI)

    printed = await _send_with_the_cli(server, ZHANG_WEI)

    assert printed == "taxation: 1 of 1 change(s) recorded\n"
    message = await _next(tax)
    event = message["payload"]["data"]["changes"]
    assert event["key"] == ZHANG_WEI and event["changedFields"] == ["taxCompliant"]
    assert event["person"] == {"name": "张伟", "taxCompliant": False}
    assert "errors" not in message["payload"]
    await tax.close()


async def test_a_repeated_call_is_one_change_and_a_change_to_no_subscribable_column_is_none(
    server: Server, tmp_path: Path
) -> None:
    tax = await _open(server, "tax_officer")
    await _subscribe(server, tax, TAX_SUBSCRIPTION, live=1)
    body = _body(_change(LI_NA))

    first = await asyncio.to_thread(_post, server, body, message_id="msg_repeat")
    again = await asyncio.to_thread(_post, server, body, message_id="msg_repeat")
    income_only = await asyncio.to_thread(_post, server, _body(_change(LI_NA, ("annual_income",))))
    last = await asyncio.to_thread(_post, server, _body(_change(ZHANG_WEI)))

    assert first.json() == {"received": 1, "recorded": 1, "duplicate": False}
    assert again.json() == {"received": 1, "recorded": 0, "duplicate": True}
    assert income_only.json() == {"received": 1, "recorded": 0, "duplicate": False}
    assert last.status_code == 200
    keys = [(await _next(tax))["payload"]["data"]["changes"]["key"] for _ in range(2)]
    assert keys == [LI_NA, ZHANG_WEI], "the repeat and the income change sent nothing"
    assert [row[2] for row in _received(tmp_path)] == [LI_NA, ZHANG_WEI]
    await tax.close()


async def test_a_subscriber_not_granted_the_field_hears_nothing_of_its_change(server: Server) -> None:
    # Civil affairs watches every Person field it may see; taxCompliant is not one of them.
    clerk = await _open(server, "civil_affairs_officer")
    await _subscribe(
        server,
        clerk,
        'subscription { changes(entity: Person, purpose: "subsistence-review") { key changedFields } }',
        live=1,
    )
    tax = await _open(server, "tax_officer")
    await _subscribe(server, tax, TAX_SUBSCRIPTION, live=2)

    assert (await asyncio.to_thread(_post, server, _body(_change(ZHANG_WEI)))).status_code == 200

    assert (await _next(tax))["payload"]["data"]["changes"]["key"] == ZHANG_WEI
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(clerk.recv(), 1.0)
    await clerk.close()
    await tax.close()


def test_a_call_not_signed_with_the_department_s_secret_is_refused_and_records_nothing(
    server: Server, tmp_path: Path
) -> None:
    body = _body(_change())
    attempts = {
        "another secret": _post(server, body, secret=new_secret()),
        "a stale timestamp": _post(server, body, now=time.time() - 3600),
        "a timestamp from the future": _post(server, body, now=time.time() + 3600),
        "no signature": httpx.post(f"{server.url}/changes/taxation", content=body, timeout=BOUND),
    }
    forged = headers(CHANGES_SECRET, "msg_forged", body)
    attempts["a body other than the signed one"] = httpx.post(
        f"{server.url}/changes/taxation", content=_body(_change(LI_NA)), headers=forged, timeout=BOUND
    )

    for what, answer in attempts.items():
        assert answer.status_code == 401, what
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", what
        assert CHANGES_SECRET not in answer.text
    assert _received(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            _change(value=LEAKED_VALUE),
            "changes[1] has value: a change names its entity, key, columns and time, never a value",
        ),
        (
            _change(columns=("tax_compliant", "bank_account")),
            "changes[1].columns: bank_account not a column of individual_taxpayers",
        ),
        (
            {"entity": "Property", "key": "x", "columns": ["seized"]},
            "changes[1].entity 'Property' is not an entity of this department; it provides Enterprise, Person",
        ),
        (_change(key=""), "changes[1].key must be a printable string"),
        (_change(columns=()), "changes[1].columns must be a non-empty list"),
        (_change(at="yesterday"), "changes[1].at must be an ISO 8601 time"),
    ],
)
def test_a_call_that_is_not_a_list_of_this_department_s_changes_is_refused_saying_why(
    server: Server, tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    answer = _post(server, _body(_change(LI_NA), change))

    assert answer.status_code == 400
    assert problem in answer.json()["errors"][0]["message"]
    assert LEAKED_VALUE not in answer.text
    assert _received(tmp_path) == [], "a call is taken whole or not at all"


def test_calls_for_a_department_that_reports_nothing_here_or_too_large_are_refused(server: Server) -> None:
    sql_department = _post(server, _body(_change()), department="public_security")
    unknown = _post(server, _body(_change()), department="no_such_department")
    too_large = _post(server, _body(*[_change(key=f"{index:0>18}") for index in range(30_000)]))

    assert (sql_department.status_code, unknown.status_code) == (404, 404)
    assert "public_security reports no changes to this server" in sql_department.text
    assert too_large.status_code == 413


def test_a_change_answered_200_is_delivered_after_kill_9(city: Path, tmp_path: Path, api: str) -> None:
    receiver = Receiver(free_port())
    environ = _environ(city, tmp_path, api)
    with govgraph_server(environ, tmp_path) as server:
        wait_for_subscriptions(server.url)
        registered = httpx.post(
            f"{server.url}/subscriptions",
            json={"query": TAX_SUBSCRIPTION, "callbackUrl": receiver.url},
            headers={"Authorization": f"Bearer {token('tax_officer')}"},
            timeout=BOUND,
        )
        assert registered.status_code == 201, registered.text
        receiver.secret = registered.json()["secret"]
        _non_compliant(city, ZHANG_WEI)
        assert _post(server, _body(_change())).status_code == 200  # the receiver is down: nothing goes out
        server.kill(signal.SIGKILL)
        server.process.wait(timeout=BOUND)
    receiver.start()
    try:
        with govgraph_server(environ, tmp_path):
            deadline = time.monotonic() + 60
            while not receiver.events and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        receiver.stop()

    [body] = receiver.events.values()
    assert body["data"]["changes"]["key"] == ZHANG_WEI
    assert body["data"]["changes"]["person"] == {"name": "张伟", "taxCompliant": False}


def test_serve_refuses_to_start_without_the_department_s_changes_secret(
    city: Path, tmp_path: Path, api: str
) -> None:
    environ = {**os.environ, **_environ(city, tmp_path, api)}
    del environ["GOVGRAPH_TAXATION_CHANGES_SECRET"]
    finished = subprocess.run(
        [sys.executable, "-m", "govgraph.cli", "serve", "--port", str(free_port())],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode != 0
    assert "source.changes.secret_env: GOVGRAPH_TAXATION_CHANGES_SECRET is not set" in finished.stderr
