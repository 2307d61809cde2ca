"""A subscription lasts no longer than the token it was made with: the WebSocket closes, the SSE stream ends.

The tokens here are real, signed as ``govgraph token`` signs them, and
expire a couple of seconds after the test starts (govgraph allows 30 s of
clock leeway, so they are issued 28 s in the past).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from govgraph.auth.tokens import DEMO_SECRET, issue_token
from tests.auth_helpers import ROLE_DEPARTMENTS
from tests.servers import Server, demo_environ, govgraph_server, wait_for_subscriptions

BOUND = 30.0
"""The longest a test waits for the end; passing never depends on it."""
LEEWAY = 30
SUBSCRIPTION = """subscription { changes(entity: Person, fields: [deceased], purpose: "subsistence-review") {
  key } }"""


def _token(seconds_left: float) -> str:
    role = "civil_affairs_officer"
    return issue_token(
        DEMO_SECRET,
        subject="officer-short-lived",
        roles=[role],
        department=ROLE_DEPARTMENTS[role],
        ttl=datetime.timedelta(seconds=seconds_left - LEEWAY),
    )


@pytest.fixture
def server(demo_dir: Path, tmp_path: Path) -> Iterator[Server]:
    city = Path(shutil.copytree(demo_dir, tmp_path / "demo"))
    with govgraph_server(demo_environ(city, tmp_path), tmp_path) as running:
        wait_for_subscriptions(running.url)
        yield running


async def test_a_websocket_is_closed_when_its_token_expires(server: Server) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {_token(3)}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(socket.recv(), BOUND)) == {"type": "connection_ack"}
        await socket.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))

        with pytest.raises(ConnectionClosed):
            for _ in range(100):  # pings at most, until the close
                await asyncio.wait_for(socket.recv(), BOUND)

    assert socket.close_code == 4403
    assert "the token has expired" in (socket.close_reason or "")


async def test_a_token_that_has_expired_gets_no_connection(server: Server) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {_token(-5)}"}})
        )
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), BOUND)
    assert socket.close_code == 4403


async def test_an_sse_stream_ends_with_an_error_when_its_token_expires(server: Server) -> None:
    headers = {"Authorization": f"Bearer {_token(3)}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(timeout=BOUND) as client, client.stream(
        "POST", f"{server.url}/graphql/stream", json={"query": SUBSCRIPTION}, headers=headers
    ) as response:
        assert response.status_code == 200
        text = ""
        async for chunk in response.aiter_text():  # ends when the server completes the stream
            text += chunk

    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    assert events[-1] == "event: complete\ndata:"
    name, data = events[-2].split("\n", 1)
    assert name == "event: next"
    [error] = json.loads(data.removeprefix("data: "))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "the token has expired" in error["message"]


async def test_an_sse_client_that_leaves_is_let_go_cleanly(server: Server) -> None:
    headers = {"Authorization": f"Bearer {_token(3600)}", "Accept": "text/event-stream"}
    async with httpx.AsyncClient(timeout=BOUND) as client:
        async with client.stream(
            "POST", f"{server.url}/graphql/stream", json={"query": SUBSCRIPTION}, headers=headers
        ) as response:
            assert (await anext(response.aiter_text())).startswith(": subscribed")
        for _ in range(300):  # the server notices the client is gone
            if (await client.get(f"{server.url}/readyz")).json()["subscriptions"]["live"] == 0:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the subscription outlived its client")

    assert "Exception in ASGI application" not in server.output()
