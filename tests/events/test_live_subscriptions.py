"""Live subscriptions against a running server: a real WebSocket client and a real SSE client.

Each test changes a record of the demo city the way its department would
(``govgraph demo change``, or an UPDATE the trigger sees), then reads what
the subscriber was sent: the authorized payload, masks applied, and nothing
about a field it may not see.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from govgraph.cli import main
from govgraph.demo.golden import WANG_JIANGUO, ZHANG_WEI
from tests.auth_helpers import token
from tests.servers import Server, demo_environ, govgraph_server

BOUND = 30.0
"""The longest a test waits for one message; passing never depends on it."""

DEATH_SUBSCRIPTION = """
subscription Deaths {
  changes(entity: Person, fields: [deceased], purpose: "subsistence-review") {
    key changedFields at
    person { name deceased dateOfDeath subsistenceAllowance { status } }
  }
}"""


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


@pytest.fixture
def server(city: Path, tmp_path: Path) -> Iterator[Server]:
    environ = demo_environ(city, tmp_path, GOVGRAPH_EVENTS_POLL_INTERVAL="0.2")
    with govgraph_server(environ, tmp_path) as running:
        yield running


def _ws_url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/graphql"


async def _open(server: Server, role: str, purpose: str | None = None) -> ClientConnection:
    socket = await connect(_ws_url(server), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket.send(
        json.dumps(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token(role, purpose)}"}}
        )
    )
    ack = json.loads(await asyncio.wait_for(socket.recv(), BOUND))
    assert ack == {"type": "connection_ack"}
    return socket


async def _subscribe(socket: ClientConnection, query: str, identifier: str = "1", **variables: Any) -> None:
    await socket.send(
        json.dumps(
            {"type": "subscribe", "id": identifier, "payload": {"query": query, "variables": variables}}
        )
    )


async def _next(socket: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), BOUND))
        if message["type"] != "ping":
            return message


async def _subscribed(server: Server, live: int = 1) -> None:
    """Wait until the server holds ``live`` subscriptions: a change must come after one to reach it."""
    async with httpx.AsyncClient(timeout=BOUND) as client:
        for _ in range(300):
            body = (await client.get(f"{server.url}/readyz")).json()
            if body.get("subscriptions", {}).get("live", 0) >= live:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server never held {live} live subscriptions: {body}")


async def _die(city: Path, key: str) -> None:
    """``govgraph demo change --death``, as public security's system would record it."""
    assert await asyncio.to_thread(main, ["demo", "change", "--dir", str(city), "--death", key]) == 0


def _widow(city: Path, key: str) -> None:
    with sqlite3.connect(city / "civil_affairs.db") as connection:
        updated = connection.execute(
            "UPDATE civil_status SET marital_state = 'widowed' WHERE id_card_no = ?", (key,)
        ).rowcount
    assert updated == 1


async def test_a_death_reaches_a_civil_affairs_subscriber_over_websocket(server: Server, city: Path) -> None:
    socket = await _open(server, "civil_affairs_officer")
    await _subscribe(socket, DEATH_SUBSCRIPTION)
    await _subscribed(server)
    await _die(city, WANG_JIANGUO)

    message = await _next(socket)

    assert message["type"] == "next" and message["id"] == "1"
    event = message["payload"]["data"]["changes"]
    assert event["key"] == WANG_JIANGUO
    assert event["changedFields"] == ["deceased"]
    assert event["person"]["name"] == "王建国"
    assert event["person"]["deceased"] is True
    assert event["person"]["dateOfDeath"]
    assert event["person"]["subsistenceAllowance"] == {"status": "active"}
    assert "errors" not in message["payload"]
    await socket.close()


async def test_masks_apply_and_a_field_the_subscriber_may_not_see_sends_nothing(
    server: Server, city: Path
) -> None:
    # The clerk may read maritalStatus for housing-subsidy, and sees addresses masked; deceased is not
    # granted, so a death is not the clerk's business at all: not even that it happened.
    socket = await _open(server, "window_clerk")
    await _subscribe(
        socket,
        """subscription { changes(entity: Person, purpose: "housing-subsidy") {
             key changedFields person { maritalStatus registeredAddress deceased } } }""",
    )
    await _subscribed(server)
    await _die(city, ZHANG_WEI)
    _widow(city, ZHANG_WEI)

    message = await _next(socket)

    payload = message["payload"]
    event = payload["data"]["changes"]
    assert event["changedFields"] == ["maritalStatus"]
    assert event["person"]["maritalStatus"] == "widowed"
    assert event["person"]["registeredAddress"] == "北京市东城区"
    assert event["person"]["deceased"] is None
    assert [error["path"] for error in payload["errors"]] == [["changes", "person", "deceased"]]
    assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = json.dumps(payload, ensure_ascii=False)
    assert "true" not in body.lower().replace('"deceased": null', "")
    await socket.close()


async def test_naming_a_field_the_subscriber_may_not_watch_is_forbidden(server: Server) -> None:
    socket = await _open(server, "window_clerk")
    await _subscribe(
        socket,
        'subscription { changes(entity: Person, fields: [deceased], purpose: "housing-subsidy") { key } }',
    )

    message = await _next(socket)

    assert message["type"] == "error" and message["id"] == "1"
    assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "Person.deceased" in message["payload"][0]["message"]
    await socket.close()


async def test_protocol_faults_close_with_the_protocol_s_codes(server: Server) -> None:
    async with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as early:  # type: ignore[list-item]
        await early.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(early.recv(), BOUND)
        assert early.close_code == 4401
    async with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as forged:  # type: ignore[list-item]
        await forged.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        )
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(forged.recv(), BOUND)
        assert forged.close_code == 4403
    socket = await _open(server, "civil_affairs_officer")
    await _subscribe(socket, DEATH_SUBSCRIPTION)
    await _subscribe(socket, DEATH_SUBSCRIPTION)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(socket.recv(), BOUND)
    assert socket.close_code == 4409


async def _sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    name, data = "", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if name:
                yield name, "\n".join(data)
            name, data = "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


async def test_a_death_reaches_an_sse_subscriber_with_the_pension_officer_s_payload(
    server: Server, city: Path
) -> None:
    query = """subscription { changes(entity: Person, purpose: "pension-review") {
                 key changedFields person { deceased dateOfDeath maritalStatus } } }"""
    headers = {"Authorization": f"Bearer {token('pension_officer')}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=BOUND) as client,
        client.stream(
            "POST", f"{server.url}/graphql/stream", json={"query": query}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
        await _subscribed(server)
        await _die(city, WANG_JIANGUO)
        name, data = await asyncio.wait_for(anext(events), BOUND)

    assert name == "next"
    payload = json.loads(data)
    event = payload["data"]["changes"]
    assert event["key"] == WANG_JIANGUO and event["changedFields"] == ["deceased"]
    assert event["person"]["deceased"] is True
    assert event["person"]["maritalStatus"] is None  # not granted to the pension office
    assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "divorced" not in data


async def test_sse_refuses_a_subscription_it_cannot_make_with_the_reason(server: Server) -> None:
    headers = {"Authorization": f"Bearer {token('pension_officer')}", "Accept": "text/event-stream"}
    forbidden = httpx.post(
        f"{server.url}/graphql/stream",
        json={
            "query": 'subscription { changes(entity: Person, fields: [maritalStatus], purpose: "pension-review") { key } }'
        },
        headers=headers,
        timeout=BOUND,
    )
    no_purpose = httpx.post(
        f"{server.url}/graphql/stream",
        json={"query": "subscription { changes(entity: Person) { key } }"},
        headers=headers,
        timeout=BOUND,
    )

    assert forbidden.status_code == 403
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert no_purpose.status_code == 400
    assert "purpose" in no_purpose.json()["errors"][0]["message"]


async def test_every_delivery_is_in_the_audit_log_and_the_chain_verifies(
    server: Server, city: Path, tmp_path: Path
) -> None:
    socket = await _open(server, "civil_affairs_officer")
    await _subscribe(socket, DEATH_SUBSCRIPTION)
    await _subscribed(server)
    await _die(city, WANG_JIANGUO)
    await _next(socket)
    await socket.close()

    audit = httpx.post(
        f"{server.url}/graphql",
        json={
            "query": """{ auditLog(filter: {entityKey: "%s"}) { entries { delivery department purpose
                         fields { coordinate decision } } } }"""
            % WANG_JIANGUO
        },
        headers={"Authorization": f"Bearer {token('auditor', 'oversight')}"},
        timeout=BOUND,
    ).json()
    [delivery] = [entry for entry in audit["data"]["auditLog"]["entries"] if entry["delivery"]]
    assert delivery["delivery"].startswith("live_")
    assert delivery["department"] == "civil_affairs"
    assert delivery["purpose"] == "subsistence-review"
    coordinates = {item["coordinate"]: item["decision"] for item in delivery["fields"]}
    assert coordinates["Person.deceased"] == "read"
    assert "Person.subsistenceAllowance" in coordinates
    usage = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ usage(groupBy: [PROVIDER]) { provider deliveries } }"},
        headers={"Authorization": f"Bearer {token('auditor', 'oversight')}"},
        timeout=BOUND,
    ).json()
    deliveries = {row["provider"]: row["deliveries"] for row in usage["data"]["usage"]}
    assert deliveries["public_security"] == 1
    citizen = httpx.post(
        f"{server.url}/graphql",
        json={"query": "{ myAccessLog { department notification } }"},
        headers={"Authorization": f"Bearer {token('citizen', subject=WANG_JIANGUO)}"},
        timeout=BOUND,
    ).json()
    assert {"department": "civil_affairs", "notification": True} in citizen["data"]["myAccessLog"]
    verify = ["audit", "verify", "--url", f"sqlite+aiosqlite:///{tmp_path}/audit.db"]
    assert await asyncio.to_thread(main, verify) == 0


def test_a_subscription_posted_as_a_query_is_refused_saying_where_it_is_served(server: Server) -> None:
    answer = httpx.post(
        f"{server.url}/graphql",
        json={"query": DEATH_SUBSCRIPTION},
        headers={"Authorization": f"Bearer {token('civil_affairs_officer')}"},
        timeout=BOUND,
    ).json()

    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "graphql-transport-ws" in error["message"] and "/graphql/stream" in error["message"]
