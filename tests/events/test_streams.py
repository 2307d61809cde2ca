"""``RedisChangeBus`` with two buses as two worker processes, over the demo city on SQLite and a real Redis:
every change broadcast by both and enqueued once; a dead leader replaced with nothing lost or doubled; a Redis
killed and restarted."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from govgraph.catalog.loader import load_catalog
from govgraph.events.bus import CatalogFeeds, Handler
from govgraph.events.change import Change
from govgraph.events.streams import Outage, RedisChangeBus, entry_change, entry_fields
from govgraph.settings import DEMO_CATALOG
from tests.conftest import IN_CI, reachable, require_service
from tests.events.test_bus import DEPARTMENTS, FAST, Live, Outbox, die, living, seize, unseized, until
from tests.faults import RedisServer, tcp_proxy

SHARED_REDIS = "redis://127.0.0.1:6379/14"
LEASE = 1.5
"""Seconds a dead worker's leases outlive it."""
FIELDS = {b"department", b"id", b"entity", b"key", b"columns", b"at"}

StartWorker = Callable[..., Awaitable[RedisChangeBus]]


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's demo city, to change freely."""
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


@pytest.fixture
def shared_redis() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return SHARED_REDIS


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is required in CI (CI=true) but is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def stream() -> str:
    """A stream of the test's own, so that tests never share keys."""
    return f"govgraph:test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def start_worker(city: Path, stream: str) -> AsyncIterator[StartWorker]:
    """Start one worker's bus, with its own engines, on the test's stream; all closed afterwards."""
    catalog = load_catalog(DEMO_CATALOG, env={"GOVGRAPH_DEMO_DIR": str(city)})
    started: list[tuple[RedisChangeBus, CatalogFeeds]] = []

    async def start(
        url: str, name: str, outbox: Outbox, live: Live, enqueue: Handler | None = None, **options: Any
    ) -> RedisChangeBus:
        sources = CatalogFeeds(catalog, DEPARTMENTS, poll_interval=0.05)
        bus = RedisChangeBus(
            url,
            sources.feed,
            DEPARTMENTS,
            outbox.cursor,
            sources.latest,
            consumer=name,
            stream=stream,
            lock_ttl=LEASE,
            backoff=FAST,
            timeout=1.0,
            **options,
        )
        started.append((bus, sources))
        await bus.start(live.broadcast, enqueue or outbox.enqueue)
        return bus

    yield start
    for bus, sources in started:
        await bus.aclose()
        await sources.aclose()
    if reachable("127.0.0.1", 6379):
        client = redis.Redis.from_url(SHARED_REDIS)
        try:
            keys = [key async for key in client.scan_iter(match=f"{stream}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


async def entries(url: str, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    client = redis.Redis.from_url(url)
    try:
        return await client.xrange(stream)
    finally:
        await client.aclose()


def ready(outbox: Outbox) -> Outbox:
    """The outbox already holds everything before the test: feeds start at the beginning of the change tables."""
    outbox.cursors.update({department: 0 for department in DEPARTMENTS})
    return outbox


async def test_every_worker_broadcasts_every_change_and_one_enqueues_it(
    city: Path, start_worker: StartWorker, shared_redis: str, stream: str
) -> None:
    outbox = ready(Outbox())
    live_a, live_b = Live(), Live()
    a = await start_worker(shared_redis, "worker-a", outbox, live_a)
    b = await start_worker(shared_redis, "worker-b", outbox, live_b)
    *persons, last = living(city, 4)
    [estate] = unseized(city, 1)

    for person in persons:
        await die(city, person)
    await seize(city, estate)
    await until(lambda: len(live_a.received) == len(live_b.received) == 4, "four changes broadcast by both")
    # Anything delivered twice would come before a change made after them all.
    await die(city, last)
    await until(
        lambda: last in live_a.keys("public_security") and last in live_b.keys("public_security"),
        "the last death broadcast by both",
    )
    await until(lambda: last in outbox.keys("public_security"), "the last death enqueued")

    for live in (live_a, live_b):
        assert live.keys("public_security") == [*persons, last]
        assert live.keys("natural_resources") == [estate]
    assert outbox.keys("public_security") == [*persons, last]
    assert outbox.keys("natural_resources") == [estate]
    assert a.leading | b.leading == set(DEPARTMENTS) and not a.leading & b.leading
    assert a.enqueuing != b.enqueuing
    published = await entries(shared_redis, stream)
    assert [
        fields[b"key"].decode() for _, fields in published if fields[b"department"] == b"public_security"
    ] == [
        *persons,
        last,
    ]
    assert all(set(fields) == FIELDS for _, fields in published)
    assert a.head("public_security") == b.head("public_security") == outbox.cursors["public_security"]


async def test_when_the_leader_dies_the_other_worker_takes_over_with_nothing_lost_or_doubled(
    city: Path, start_worker: StartWorker, shared_redis: str, stream: str
) -> None:
    first, second, third = living(city, 3)
    outbox = ready(Outbox())
    live_a, live_b = Live(), Live()
    stalled = asyncio.Event()

    async def enqueue_then_die(change: Change) -> None:
        if change.key == second:
            stalled.set()
            await asyncio.Future()  # the process dies before this change is enqueued
        await outbox.enqueue(change)

    a = await start_worker(shared_redis, "worker-a", outbox, live_a, enqueue_then_die)
    await until(lambda: a.leading == set(DEPARTMENTS) and a.enqueuing, "the first worker leading")
    b = await start_worker(shared_redis, "worker-b", outbox, live_b)

    await die(city, first)
    await until(lambda: outbox.keys("public_security") == [first], "the first death enqueued")
    await die(city, second)
    await until(stalled.is_set, "the leader enqueuing the second death")
    await until(lambda: second in live_b.keys("public_security"), "the second death broadcast")
    await a.aclose(release=False)
    await die(city, third)
    await until(lambda: third in live_b.keys("public_security"), "the third death broadcast by the survivor")
    await until(lambda: third in outbox.keys("public_security"), "the third death enqueued")

    assert outbox.keys("public_security") == [first, second, third]
    assert live_b.keys("public_security") == [first, second, third]
    assert live_a.keys("public_security") == [first, second]
    await until(lambda: b.leading == set(DEPARTMENTS), "the survivor leading every department")
    assert b.enqueuing
    published = await entries(shared_redis, stream)
    assert [fields[b"key"].decode() for _, fields in published] == [first, second, third]


async def test_redis_killed_and_restarted_the_buses_resume_with_nothing_lost(
    city: Path, own_redis: RedisServer, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "govgraph.events.streams")
    first, second, third, fourth = living(city, 4)
    outbox = ready(Outbox())
    live_a, live_b = Live(), Live()
    a = await start_worker(own_redis.url, "worker-a", outbox, live_a)
    b = await start_worker(own_redis.url, "worker-b", outbox, live_b)
    both = (live_a, live_b)

    await die(city, first)
    await until(lambda: outbox.keys("public_security") == [first], "the first death enqueued")
    # The outbox is down too: Redis will lose the second death before it is enqueued.
    outbox.refuse = lambda change: True
    await die(city, second)
    await until(lambda: all(second in live.keys("public_security") for live in both), "second broadcast")
    await until(lambda: outbox.refused != [], "the second death refused by the outbox")

    own_redis.kill()
    await until(lambda: not a.enqueuing and not b.enqueuing, "both workers to stop enqueuing")
    await die(city, third)
    own_redis.start()
    outbox.refuse = lambda change: False
    await until(lambda: all(third in live.keys("public_security") for live in both), "third broadcast")
    await die(city, fourth)
    await until(lambda: all(fourth in live.keys("public_security") for live in both), "fourth broadcast")
    await until(lambda: fourth in outbox.keys("public_security"), "the fourth death enqueued")

    assert outbox.keys("public_security") == [first, second, third, fourth]
    for live in both:
        assert live.keys("public_security") == [first, second, third, fourth]
    for worker in ("worker-a", "worker-b"):
        mine = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"change bus {worker}:")]
        assert sum("Redis unavailable" in message for message in mine) == 1, mine
        assert sum("Redis answers again" in message for message in mine) == 1, mine
    assert str(own_redis.port) not in caplog.text


async def test_a_hung_redis_costs_a_bounded_wait_then_the_buses_resume(
    city: Path, own_redis: RedisServer, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "govgraph.events.streams")
    first, second, third = living(city, 3)
    outbox = ready(Outbox())
    live = Live()
    with tcp_proxy("127.0.0.1", own_redis.port) as proxy:
        bus = await start_worker(proxy.url("redis", "/0"), "worker-a", outbox, live)
        await die(city, first)
        await until(lambda: outbox.keys("public_security") == [first], "the first death enqueued")

        proxy.pause()  # connections stay open, and no byte moves: every blocking read must give up by itself
        await die(city, second)
        await until(lambda: "Redis unavailable (TimeoutError)" in caplog.text, "the hang noticed")
        proxy.resume()
        await until(lambda: "Redis answers again" in caplog.text, "Redis answering again")
        await die(city, third)
        await until(lambda: third in outbox.keys("public_security"), "the third death enqueued")
        await until(lambda: third in live.keys("public_security"), "the third death broadcast")
        await bus.aclose()

    assert outbox.keys("public_security") == [first, second, third]
    assert live.keys("public_security") == [first, second, third]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("Redis unavailable" in message for message in messages) == 1, messages
    assert sum("Redis answers again" in message for message in messages) == 1, messages


async def test_a_stalled_enqueuer_holds_publishing_back_so_the_trimmed_stream_loses_nothing(
    city: Path,
    start_worker: StartWorker,
    shared_redis: str,
    stream: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The stream keeps about 20 entries; 350 changes published while webhook enqueueing is stuck would
    # trim away entries the enqueuer had not yet read (it reads 100 at a time).
    caplog.set_level(logging.WARNING, "govgraph.events.streams")
    outbox, live, stuck = ready(Outbox()), Live(), asyncio.Event()

    async def enqueue(change: Change) -> None:
        await stuck.wait()
        await outbox.enqueue(change)

    await start_worker(shared_redis, "worker-a", outbox, live, enqueue, maxlen=20)
    persons = living(city, 350)
    with sqlite3.connect(city / "public_security.db") as connection:
        connection.execute(
            f"UPDATE residents SET deceased = 1, date_of_death = '2026-12-01' "
            f"WHERE resident_id IN ({', '.join('?' * len(persons))})",
            persons,
        )
    await until(
        lambda: any("publishing public_security waits too" in r.getMessage() for r in caplog.records),
        "publishing to wait for the enqueuer",
    )
    assert len(await entries(shared_redis, stream)) <= 20

    stuck.set()
    await until(lambda: len(outbox.enqueued) == len(persons), "every change enqueued", bound=120)

    assert sorted(outbox.keys("public_security")) == sorted(persons)
    assert len(set(outbox.keys("public_security"))) == len(persons), "each once"
    assert [c.id for c in outbox.enqueued] == sorted(c.id for c in outbox.enqueued), "in change order"
    await until(lambda: len(live.received) == len(persons), "every change broadcast")
    assert not any("trimmed from the stream" in r.getMessage() for r in caplog.records)


def test_an_entry_holds_a_change_and_nothing_else_passes_for_one() -> None:
    change = Change(
        7, "public_security", "Person", "110101199003071233", ("deceased", "date_of_death"), "now"
    )
    fields = {name.encode(): str(value).encode() for name, value in entry_fields(change).items()}

    assert set(fields) == FIELDS
    assert entry_change(fields) == change
    assert entry_change({**fields, b"id": b"seven"}) is None
    assert entry_change({b"department": b"public_security"}) is None
    assert entry_change(None) is None


def test_an_outage_is_logged_once_though_a_late_failure_follows_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "govgraph.events.streams")
    now = 0.0
    outage = Outage("worker-a", grace=3.0, clock=lambda: now)

    assert outage.began(ConnectionError()) and not outage.began(ConnectionError())
    outage.over()
    now = 1.0  # a command under way when Redis came back, failing late: the same outage
    assert outage.began(TimeoutError())
    outage.over()
    now = 2.0
    outage.began(TimeoutError())
    now = 5.5  # still failing past the grace: a new outage after all
    outage.began(TimeoutError())
    outage.over()

    assert [record.getMessage() for record in caplog.records] == [
        "change bus worker-a: Redis unavailable (ConnectionError); retrying until it answers",
        "change bus worker-a: Redis answers again",
        "change bus worker-a: Redis unavailable (TimeoutError); retrying until it answers",
        "change bus worker-a: Redis answers again",
    ]
