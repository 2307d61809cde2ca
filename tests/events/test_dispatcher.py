"""Webhook delivery against a real HTTP receiver on a local port: signed, once, retried until answered, in
order per registration, never while paused; on SQLite and PostgreSQL outboxes."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import standardwebhooks

from govgraph.events.dispatcher import Dispatcher, RetryLater
from govgraph.events.outbox import Outbox
from govgraph.events.registration import PendingDelivery, Registration
from govgraph.events.signing import new_secret
from tests.conftest import require_service
from tests.servers import free_port

PG = "postgresql://postgres@127.0.0.1:5432"
BOUND = 10.0
"""The longest a test waits for a delivery; passing never depends on it."""
OPTIONS: dict[str, Any] = {"holder": "test", "poll_interval": 0.05, "backoff": (0.05,), "timeout": 2.0}


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    path: str


class Receiver:
    """A webhook receiver in a thread: records every request, checks its signature with the reference
    library, and answers what ``answer`` says (204 unless told otherwise)."""

    def __init__(
        self, port: int, secret: str, answer: Callable[[dict[str, Any]], int] = lambda _: 204
    ) -> None:
        self.port = port
        self.secret = secret
        self.answer = answer
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["content-length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    standardwebhooks.Webhook(receiver.secret).verify(data, headers)
                    verified = True
                except standardwebhooks.WebhookVerificationError:
                    verified = False
                body = json.loads(data)
                with receiver._lock:
                    receiver.requests.append(Received(headers, body, verified, self.path))
                self.send_response(receiver.answer(body))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def changes(self) -> list[int]:
        with self._lock:
            return [request.body["change"] for request in self.requests]

    def url(self, path: str = "/hooks/deaths") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(params=["sqlite", "postgres"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outbox]:
    database = None
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    if request.param == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        database = f"govgraph_test_dispatch_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(f"{PG}/postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    store = Outbox(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        if database is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver(free_port(), new_secret()).start()
    yield started
    started.stop()


def registration(callback_url: str, secret: str, number: int = 1) -> Registration:
    return Registration(
        id=f"sub_{number:024x}",
        subject="clerk-7",
        department="civil_affairs",
        roles=("subsistence_officer",),
        purpose="subsistence-review",
        entity="Person",
        fields=("deceased",),
        document="subscription { changes(entity: Person, fields: [deceased]) { key } }",
        callback_url=callback_url,
        secret=secret,
    )


class Resolver:
    """The event body of a delivery; ``refuse`` times it says RetryLater first."""

    def __init__(self, refuse: int = 0) -> None:
        self.calls: list[int] = []
        self.refuse = refuse

    async def __call__(self, registration: Registration, delivery: PendingDelivery) -> dict[str, Any]:
        self.calls.append(delivery.change_id)
        if len(self.calls) <= self.refuse:
            raise RetryLater("the audit store cannot record the delivery")
        return {"type": "govgraph.change", "change": delivery.change_id, "key": delivery.key}


async def enqueue(store: Outbox, subscriber: Registration, *change_ids: int) -> None:
    for change_id in change_ids:
        await store.enqueue(
            "public_security",
            change_id,
            "Person",
            f"11010119900307{change_id:04d}",
            {subscriber.id: ("deceased",)},
            "2026-12-03T10:00:00Z",
        )


async def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + BOUND
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {BOUND}s"
        await asyncio.sleep(0.02)


async def states(store: Outbox, subscriber: Registration) -> dict[int, str]:
    return {item.delivery.change_id: item.state for item in await store.deliveries(subscriber.id)}


@pytest.fixture
async def dispatchers() -> AsyncIterator[list[Dispatcher]]:
    """Dispatchers a test starts, closed after it whatever happens."""
    started: list[Dispatcher] = []
    yield started
    for dispatcher in started:
        await dispatcher.aclose()


async def start(dispatchers: list[Dispatcher], store: Outbox, resolve: Any, **options: Any) -> Dispatcher:
    dispatcher = Dispatcher(store, resolve, **{**OPTIONS, **options})
    dispatchers.append(dispatcher)
    await dispatcher.start()
    return dispatcher


async def test_a_change_is_delivered_once_signed_with_its_event_id(
    outbox: Outbox, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    subscriber = registration(receiver.url(), receiver.secret)
    await outbox.register(subscriber)
    await enqueue(outbox, subscriber, 1)
    dispatcher = await start(dispatchers, outbox, Resolver())
    dispatcher.wake()

    await eventually(lambda: states(outbox, subscriber), "the delivery")
    await eventually(lambda: receiver.changes == [1], "the receiver's one request")
    await eventually(lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the delivery recorded")

    [request] = receiver.requests
    [status] = await outbox.deliveries(subscriber.id)
    assert request.verified
    assert request.path == "/hooks/deaths"
    assert request.body == {"type": "govgraph.change", "change": 1, "key": "110101199003070001"}
    assert request.headers["webhook-id"] == status.delivery.event_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "govgraph"
    assert (status.last_status, status.delivery.attempts, status.leased_until) == (204, 1, None)
    assert await dispatcher.deliver_due() == 0
    assert receiver.changes == [1]


async def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_up(
    outbox: Outbox, dispatchers: list[Dispatcher]
) -> None:
    late = Receiver(free_port(), new_secret())
    subscriber = registration(late.url(), late.secret)
    await outbox.register(subscriber)
    await enqueue(outbox, subscriber, 1)
    await start(dispatchers, outbox, Resolver())

    async def refused_twice() -> bool:
        [status] = await outbox.deliveries(subscriber.id)
        return status.delivery.attempts >= 2 and status.last_error == "connection failed"

    await eventually(refused_twice, "attempts while the receiver is down")
    late.start()
    try:
        await eventually(lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the delivery")
        assert late.changes == [1]
        assert late.requests[0].verified
    finally:
        late.stop()


async def test_a_receiver_answering_500_is_retried_until_it_takes_the_delivery(
    outbox: Outbox, dispatchers: list[Dispatcher]
) -> None:
    answers = iter([500, 502, 503])
    flaky = Receiver(free_port(), new_secret(), lambda _: next(answers, 200)).start()
    try:
        subscriber = registration(flaky.url(), flaky.secret)
        await outbox.register(subscriber)
        await enqueue(outbox, subscriber, 1)
        await start(dispatchers, outbox, Resolver())

        await eventually(lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the delivery")
        [status] = await outbox.deliveries(subscriber.id)
        assert (status.delivery.attempts, status.last_status, status.last_error) == (4, 200, "HTTP 503")
        assert flaky.changes == [1, 1, 1, 1]
        assert {request.headers["webhook-id"] for request in flaky.requests} == {status.delivery.event_id}
        assert all(request.verified for request in flaky.requests)
    finally:
        flaky.stop()


async def test_retry_later_sends_nothing_and_tries_again(
    outbox: Outbox, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    subscriber = registration(receiver.url(), receiver.secret)
    await outbox.register(subscriber)
    await enqueue(outbox, subscriber, 1)
    resolver = Resolver(refuse=2)
    await start(dispatchers, outbox, resolver)

    await eventually(lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the delivery")
    assert resolver.calls == [1, 1, 1]
    assert receiver.changes == [1]
    [status] = await outbox.deliveries(subscriber.id)
    assert status.delivery.attempts == 3
    assert status.last_error == "not resolved: the audit store cannot record the delivery"


async def test_a_paused_registration_gets_nothing_until_resumed(
    outbox: Outbox, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    subscriber = registration(receiver.url(), receiver.secret)
    await outbox.register(subscriber)
    await outbox.set_state(subscriber.id, "paused")
    await enqueue(outbox, subscriber, 1, 2)
    resolver = Resolver()
    dispatcher = Dispatcher(outbox, resolver, **OPTIONS)
    dispatchers.append(dispatcher)

    for _ in range(3):
        assert await dispatcher.deliver_due() == 0
    assert receiver.changes == [] and resolver.calls == []

    await outbox.set_state(subscriber.id, "active")
    await dispatcher.start()
    dispatcher.wake()
    await eventually(lambda: receiver.changes == [1, 2], "the deliveries after resuming")


async def test_a_registrations_changes_arrive_in_order_a_failure_holding_back_the_rest(
    outbox: Outbox, dispatchers: list[Dispatcher]
) -> None:
    refused: set[int] = set()

    def answer(body: dict[str, Any]) -> int:
        if body["change"] == 3 and 3 not in refused:
            refused.add(3)
            return 500
        return 204

    ordered = Receiver(free_port(), new_secret(), answer).start()
    try:
        subscriber = registration(ordered.url(), ordered.secret)
        other = registration(ordered.url("/hooks/other"), ordered.secret, number=2)
        await outbox.register(subscriber)
        await outbox.register(other)
        await enqueue(outbox, subscriber, 1, 2, 3, 4, 5)
        await enqueue(outbox, other, 6)
        await start(dispatchers, outbox, Resolver(), batch=3)

        done = dict.fromkeys((1, 2, 3, 4, 5), "delivered")
        await eventually(lambda: _equal(states(outbox, subscriber), done), "every delivery")
        mine = [request.body["change"] for request in ordered.requests if request.path == "/hooks/deaths"]
        assert mine == [1, 2, 3, 3, 4, 5]
        assert [request.path for request in ordered.requests].count("/hooks/other") == 1
    finally:
        ordered.stop()


async def test_after_its_last_attempt_a_delivery_fails_and_replay_sends_it_again(
    outbox: Outbox, dispatchers: list[Dispatcher], caplog: pytest.LogCaptureFixture
) -> None:
    down = Receiver(free_port(), new_secret())
    subscriber = registration(down.url("/hooks/deaths?token=receiver-token"), down.secret)
    await outbox.register(subscriber)
    await enqueue(outbox, subscriber, 1)
    caplog.set_level(logging.WARNING, "govgraph.events.dispatcher")
    await start(dispatchers, outbox, Resolver(), max_attempts=3)

    await eventually(lambda: _equal(states(outbox, subscriber), {1: "failed"}), "the delivery to fail")
    [status] = await outbox.deliveries(subscriber.id)
    assert (status.delivery.attempts, status.last_status, status.last_error) == (3, None, "connection failed")
    logged = caplog.text
    assert f"127.0.0.1:{down.port}/hooks/deaths" in logged
    assert "receiver-token" not in logged and subscriber.secret not in logged
    assert "110101199003070001" not in logged  # the record's key stays out of the log too

    down.start()
    try:
        assert await outbox.replay(subscriber.id, "2026-12-03T00:00:00Z") == 1
        dispatchers[0].wake()
        await eventually(
            lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the replayed delivery"
        )
        assert down.changes == [1]
        assert down.requests[0].path == "/hooks/deaths?token=receiver-token"
    finally:
        down.stop()


async def test_a_receiver_too_slow_to_answer_counts_as_a_failed_attempt(
    outbox: Outbox, dispatchers: list[Dispatcher]
) -> None:
    release = threading.Event()

    def answer(_body: dict[str, Any]) -> int:
        release.wait(BOUND)  # the first request hangs past the timeout; the retry finds it released
        return 204

    slow = Receiver(free_port(), new_secret(), answer).start()
    try:
        subscriber = registration(slow.url(), slow.secret)
        await outbox.register(subscriber)
        await enqueue(outbox, subscriber, 1)
        await start(dispatchers, outbox, Resolver(), timeout=0.2, lease_seconds=5, backoff=(0.05,))

        async def timed_out() -> bool:
            [status] = await outbox.deliveries(subscriber.id)
            return status.last_error == "no answer within 0.2s"

        await eventually(timed_out, "the timed-out attempt")
        release.set()
        await eventually(lambda: _equal(states(outbox, subscriber), {1: "delivered"}), "the delivery")
    finally:
        release.set()
        slow.stop()


async def test_closing_gives_back_the_lease_of_a_delivery_in_flight(
    outbox: Outbox, receiver: Receiver, dispatchers: list[Dispatcher]
) -> None:
    started = asyncio.Event()

    async def hang(_registration: Registration, _delivery: PendingDelivery) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("never resolved")

    subscriber = registration(receiver.url(), receiver.secret)
    await outbox.register(subscriber)
    await enqueue(outbox, subscriber, 1)
    dispatcher = await start(dispatchers, outbox, hang, timeout=60, lease_seconds=600)
    await asyncio.wait_for(started.wait(), BOUND)
    [status] = await outbox.deliveries(subscriber.id)
    assert status.leased_until is not None

    await dispatcher.aclose()

    [status] = await outbox.deliveries(subscriber.id)
    assert (status.state, status.leased_until, status.delivery.attempts) == ("pending", None, 0)
    assert [item.change_id for item in await outbox.claim("another-process", 10, 30)] == [1]
    assert receiver.changes == []


def test_a_lease_shorter_than_a_delivery_can_take_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than twice the timeout"):
        Dispatcher(
            Outbox("sqlite+aiosqlite:///unused.db"), Resolver(), holder="x", timeout=10, lease_seconds=15
        )


async def _equal(value: Any, expected: Any) -> bool:
    return await value == expected
