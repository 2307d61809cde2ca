"""Durable webhooks against a running server: registered over HTTP, delivered to a real local receiver.

The receiver checks each Standard Webhooks signature and drops duplicates by
``webhook-id``, as the docs tell receivers to. Faults are real: the server
is killed with SIGKILL between a change and its delivery, the receiver's
port is closed for a while.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from govgraph.cli import main
from govgraph.demo.golden import WANG_JIANGUO
from govgraph.events.signing import verify
from tests.auth_helpers import token
from tests.servers import Server, demo_environ, free_port, govgraph_server, wait_for_subscriptions

BOUND = 60.0
"""The longest a test waits for a delivery; passing never depends on it."""

QUERY = """subscription Deaths {
  changes(entity: Person, fields: [deceased], purpose: "subsistence-review") {
    key changedFields person { name deceased subsistenceAllowance { status } }
  }
}"""


class Receiver:
    """A webhook receiver on a fixed port: verifies signatures, counts requests, keeps each event once."""

    def __init__(self, port: int, secret: str = "") -> None:
        self.port = port
        self.secret = secret
        self.requests = 0
        self.events: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/deaths?office=7"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests += 1
                verify(receiver.secret, dict(self.headers.items()), body)
                receiver.events.setdefault(self.headers["webhook-id"], json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port())
    yield running
    running.stop()


def _environ(city: Path, tmp_path: Path) -> dict[str, str]:
    return demo_environ(
        city,
        tmp_path,
        GOVGRAPH_EVENTS_POLL_INTERVAL="0.2",
        GOVGRAPH_WEBHOOK_BACKOFF="[0.2, 0.5, 1]",
        GOVGRAPH_WEBHOOK_LEASE="5",
        GOVGRAPH_WEBHOOK_TIMEOUT="2",
    )


def _register(server: Server, receiver: Receiver, role: str = "civil_affairs_officer") -> dict[str, Any]:
    wait_for_subscriptions(server.url)
    response = httpx.post(
        f"{server.url}/subscriptions",
        json={"query": QUERY, "callbackUrl": receiver.url},
        headers={"Authorization": f"Bearer {token(role)}"},
        timeout=BOUND,
    )
    assert response.status_code == 201, response.text
    registration = response.json()
    receiver.secret = registration["secret"]
    return registration


def _outbox(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "audit.db") as connection:
        return connection.execute("SELECT state, attempts FROM govgraph_outbox ORDER BY id").fetchall()


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _die(city: Path) -> None:
    assert main(["demo", "change", "--dir", str(city), "--death", WANG_JIANGUO]) == 0


def test_a_death_is_delivered_once_signed_with_the_authorized_payload(
    city: Path, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.start()
    with govgraph_server(_environ(city, tmp_path), tmp_path) as server:
        registration = _register(server, receiver)
        _die(city)
        _until(lambda: receiver.events, "the delivery")
        _until(lambda: [state for state, _ in _outbox(tmp_path)] == ["delivered"], "the outbox to mark it")

    [(event_id, body)] = receiver.events.items()
    assert receiver.requests == 1
    assert event_id.startswith("evt_")
    assert body["subscription"] == registration["id"]
    event = body["data"]["changes"]
    assert event["key"] == WANG_JIANGUO and event["changedFields"] == ["deceased"]
    assert event["person"] == {
        "name": "王建国",
        "deceased": True,
        "subsistenceAllowance": {"status": "active"},
    }


def test_a_receiver_that_is_down_gets_the_event_when_it_comes_back(
    city: Path, tmp_path: Path, receiver: Receiver
) -> None:
    with govgraph_server(_environ(city, tmp_path), tmp_path) as server:
        _register(server, receiver)
        _die(city)
        _until(lambda: any(attempts >= 2 for _, attempts in _outbox(tmp_path)), "two failed attempts")
        receiver.start()
        _until(lambda: receiver.events, "the delivery after the receiver came back")
        _until(lambda: [state for state, _ in _outbox(tmp_path)] == ["delivered"], "delivered")

    assert len(receiver.events) == 1


def test_kill_9_between_the_change_and_its_delivery_loses_nothing(
    city: Path, tmp_path: Path, receiver: Receiver
) -> None:
    environ = _environ(city, tmp_path)
    with govgraph_server(environ, tmp_path) as server:
        _register(server, receiver)
        _die(city)
        _until(lambda: _outbox(tmp_path), "the delivery to be in the outbox")
        server.kill(signal.SIGKILL)
        server.process.wait(timeout=BOUND)
    assert receiver.events == {}
    receiver.start()
    with govgraph_server(environ, tmp_path):
        _until(lambda: receiver.events, "the delivery after the restart")
        _until(lambda: [state for state, _ in _outbox(tmp_path)] == ["delivered"], "delivered")

    assert len(receiver.events) == 1


def test_a_change_made_while_govgraph_is_down_is_delivered_when_it_starts(
    city: Path, tmp_path: Path, receiver: Receiver
) -> None:
    environ = _environ(city, tmp_path)
    receiver.start()
    with govgraph_server(environ, tmp_path) as server:
        _register(server, receiver)
        server.kill(signal.SIGKILL)
        server.process.wait(timeout=BOUND)
    _die(city)
    with govgraph_server(environ, tmp_path):
        _until(lambda: receiver.events, "the delivery of the change made while down")

    assert len(receiver.events) == 1


def test_registering_needs_the_subscribe_grant_and_a_usable_callback(city: Path, tmp_path: Path) -> None:
    with govgraph_server(_environ(city, tmp_path), tmp_path) as server:
        wait_for_subscriptions(server.url)
        clerk = httpx.post(
            f"{server.url}/subscriptions",
            json={
                "query": 'subscription { changes(entity: Person, purpose: "housing-subsidy") { key } }',
                "callbackUrl": "http://127.0.0.1:9/x",
            },
            headers={"Authorization": f"Bearer {token('window_clerk')}"},
            timeout=BOUND,
        )
        anonymous = httpx.post(
            f"{server.url}/subscriptions", json={"query": QUERY, "callbackUrl": "http://127.0.0.1:9/x"}
        )
        no_scheme = httpx.post(
            f"{server.url}/subscriptions",
            json={"query": QUERY, "callbackUrl": "ftp://127.0.0.1/x"},
            headers={"Authorization": f"Bearer {token('civil_affairs_officer')}"},
        )
        listed = httpx.get(
            f"{server.url}/subscriptions",
            headers={"Authorization": f"Bearer {token('civil_affairs_officer')}"},
        )

    assert clerk.status_code == 403 and "subscribe" in clerk.json()["errors"][0]["message"]
    assert anonymous.status_code == 401
    assert no_scheme.status_code == 400 and "http" in no_scheme.json()["errors"][0]["message"]
    assert listed.status_code == 200 and listed.json() == {"subscriptions": []}


def test_the_demo_receiver_prints_each_verified_delivery_once(city: Path, tmp_path: Path) -> None:
    port = free_port()
    with govgraph_server(_environ(city, tmp_path), tmp_path) as server:
        callback = Receiver(port)
        registration = _register(server, callback)
        log = tmp_path / "receiver.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "govgraph.cli", "demo", "receiver", "--port", str(port)],
                env={**os.environ, "GOVGRAPH_WEBHOOK_SECRET": registration["secret"]},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            _until(lambda: "receiving webhooks" in log.read_text(), "the receiver to start")
            _die(city)
            _until(lambda: WANG_JIANGUO in log.read_text(), "the receiver to print the delivery")
        finally:
            process.terminate()
            process.wait(timeout=BOUND)

    [line] = [line for line in log.read_text().splitlines() if WANG_JIANGUO in line]
    assert line.startswith("evt_") and "changed deceased" in line and '"deceased":true' in line
