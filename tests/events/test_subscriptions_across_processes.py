"""Two govgraph processes sharing Redis: each webhook delivered once, every live subscriber reached.

Two ``govgraph serve`` processes on their own ports stand for two workers:
a test can then hold a WebSocket subscriber on each for certain. They share
the demo city, the store (audit trail and outbox) and a Redis database of
the test's own.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from govgraph.demo.golden import WANG_JIANGUO
from tests.auth_helpers import token
from tests.conftest import require_service
from tests.events.test_live_subscriptions import (
    DEATH_SUBSCRIPTION,
    _die,
    _next,
    _open,
    _subscribe,
    _subscribed,
)
from tests.events.test_webhook_delivery import QUERY, Receiver, _outbox
from tests.servers import Server, demo_environ, free_port, govgraph_server, wait_for_subscriptions

REDIS_DB = 11
BOUND = 60.0


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


@pytest.fixture
def servers(city: Path, tmp_path: Path) -> Iterator[list[Server]]:
    require_service("Redis", "127.0.0.1", 6379)
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    environ = demo_environ(
        city,
        tmp_path,
        GOVGRAPH_EVENTS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        GOVGRAPH_EVENTS_POLL_INTERVAL="0.2",
        GOVGRAPH_WEBHOOK_BACKOFF="[0.2, 0.5, 1]",
    )
    with ExitStack() as stack:
        yield [stack.enter_context(govgraph_server(environ, tmp_path / name)) for name in ("a", "b")]


@pytest.fixture(autouse=True)
def _directories(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


async def test_each_webhook_once_and_live_subscribers_on_both_processes(
    servers: list[Server], city: Path, tmp_path: Path
) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    try:
        first, second = servers
        for server in servers:
            wait_for_subscriptions(server.url)
        registration = httpx.post(
            f"{first.url}/subscriptions",
            json={"query": QUERY, "callbackUrl": receiver.url},
            headers={"Authorization": f"Bearer {token('civil_affairs_officer')}"},
            timeout=BOUND,
        ).json()
        receiver.secret = registration["secret"]
        sockets = [await _open(server, "civil_affairs_officer") for server in servers]
        for socket in sockets:
            await _subscribe(socket, DEATH_SUBSCRIPTION)
        await _subscribed(first)
        await _subscribed(second)
        await _die(city, WANG_JIANGUO)

        messages = [await _next(socket) for socket in sockets]
        await _settled(receiver, tmp_path)
    finally:
        receiver.stop()

    assert [m["payload"]["data"]["changes"]["key"] for m in messages] == [WANG_JIANGUO, WANG_JIANGUO]
    assert receiver.requests == 1
    assert len(receiver.events) == 1
    assert [state for state, _ in _outbox(tmp_path)] == ["delivered"]


async def _settled(receiver: Receiver, tmp_path: Path) -> None:
    """Until the delivery is marked delivered, then a little past it: a second delivery would show."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if [state for state, _ in _outbox(tmp_path)] == ["delivered"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the delivery never completed: {_outbox(tmp_path)}")
    # Both processes poll the outbox at least once a second: give each two chances to send it again.
    await asyncio.sleep(2.5)
