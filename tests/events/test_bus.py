"""``LocalChangeBus`` over the demo city on SQLite: each change enqueued, then broadcast, once; history after a
restart enqueued from the cursor but never broadcast; failing handlers and an unreadable department."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from govgraph.catalog.loader import load_catalog
from govgraph.catalog.specs import HttpSourceSpec
from govgraph.demo.changes import make_change
from govgraph.demo.golden import WANG_JIANGUO
from govgraph.events.bus import CatalogFeeds, LocalChangeBus
from govgraph.events.change import Change
from govgraph.settings import DEMO_CATALOG
from tests.conftest import postgres_environ

BOUND = 10.0
"""The longest a test waits for something to happen; passing never depends on it."""
FAST = (0.01, 0.05)
"""Backoff for tests: retries come quickly."""
DEPARTMENTS = ["public_security", "natural_resources"]


class OutboxDown(Exception):
    pass


class Outbox:
    """What the bus needs of the webhook outbox: a durable cursor per department, committed with each enqueue."""

    def __init__(self) -> None:
        self.cursors: dict[str, int] = {}
        self.enqueued: list[Change] = []
        self.refused: list[Change] = []
        self.refuse: Callable[[Change], bool] = lambda change: False

    async def cursor(self, department: str) -> int | None:
        return self.cursors.get(department)

    async def enqueue(self, change: Change) -> None:
        if self.refuse(change):
            self.refused.append(change)
            raise OutboxDown("the audit store is down")
        self.enqueued.append(change)
        self.cursors[change.department] = max(self.cursors.get(change.department, 0), change.id)

    def keys(self, department: str) -> list[str]:
        return [change.key for change in self.enqueued if change.department == department]


class Live:
    """One process's live subscribers: what was broadcast to them, and whether it had been enqueued first."""

    def __init__(self, outbox: Outbox | None = None) -> None:
        self.outbox = outbox
        self.received: list[Change] = []
        self.enqueued_first: list[bool] = []
        self.fail: Callable[[Change], bool] = lambda change: False
        self.attempts = 0

    async def broadcast(self, change: Change) -> None:
        self.attempts += 1
        if self.fail(change):
            raise RuntimeError("a subscriber's queue broke")
        self.received.append(change)
        if self.outbox is not None:
            self.enqueued_first.append(change in self.outbox.enqueued)

    def keys(self, department: str) -> list[str]:
        return [change.key for change in self.received if change.department == department]


async def until(condition: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    """Wait for ``condition``; fail naming ``what`` if it does not hold within ``bound`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"not within {bound:g} s: {what}")
        await asyncio.sleep(0.02)


def living(city: Path, count: int) -> list[str]:
    """ID numbers of ``count`` living residents of the city, to die in a test."""
    with sqlite3.connect(city / "public_security.db") as connection:
        rows = connection.execute(
            "SELECT resident_id FROM residents WHERE deceased = 0 ORDER BY resident_id LIMIT ?", (count,)
        ).fetchall()
    return [row[0] for row in rows]


def unseized(city: Path, count: int) -> list[str]:
    with sqlite3.connect(city / "natural_resources.db") as connection:
        rows = connection.execute(
            "SELECT bdcqzh FROM real_estate_units WHERE seized = 0 ORDER BY bdcqzh LIMIT ?", (count,)
        ).fetchall()
    return [row[0] for row in rows]


async def die(city: Path, key: str) -> None:
    await make_change("death", key, city, None)


async def seize(city: Path, key: str) -> None:
    await make_change("seize", key, city, None)


def change_ids(city: Path, department: str) -> list[int]:
    with sqlite3.connect(city / f"{department}.db") as connection:
        return [row[0] for row in connection.execute("SELECT id FROM govgraph_changes ORDER BY id")]


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's demo city, to change freely."""
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


StartBus = Callable[..., Awaitable[LocalChangeBus]]


@pytest.fixture
async def start_bus(city: Path) -> AsyncIterator[StartBus]:
    """Start a bus over the city's public security and natural resources departments; all closed afterwards."""
    sources = CatalogFeeds(
        load_catalog(DEMO_CATALOG, env={"GOVGRAPH_DEMO_DIR": str(city)}), DEPARTMENTS, poll_interval=0.05
    )
    started: list[LocalChangeBus] = []

    async def start(outbox: Outbox, live: Live, **options: Any) -> LocalChangeBus:
        bus = LocalChangeBus(
            sources.feed, DEPARTMENTS, outbox.cursor, sources.latest, backoff=FAST, **options
        )
        started.append(bus)
        await bus.start(live.broadcast, outbox.enqueue)
        return bus

    yield start
    for bus in started:
        await bus.aclose()
    await sources.aclose()


async def test_each_change_is_enqueued_then_broadcast_once(city: Path, start_bus: StartBus) -> None:
    outbox = Outbox()
    live = Live(outbox)
    bus = await start_bus(outbox, live)
    *persons, last = living(city, 4)
    [estate] = unseized(city, 1)

    for person in persons:
        await die(city, person)
    await seize(city, estate)
    await until(lambda: len(live.received) == 4, "four changes broadcast")
    # Anything delivered twice would come before a change made after them all.
    await die(city, last)
    await until(lambda: last in live.keys("public_security"), "the last death broadcast")

    assert outbox.keys("public_security") == [*persons, last]
    assert outbox.keys("natural_resources") == [estate]
    assert sorted(live.received, key=lambda c: (c.department, c.id)) == sorted(
        outbox.enqueued, key=lambda c: (c.department, c.id)
    )
    assert all(live.enqueued_first)
    death = next(change for change in outbox.enqueued if change.department == "public_security")
    assert (death.entity, death.columns) == ("Person", ("deceased", "date_of_death"))
    assert bus.head("public_security") == change_ids(city, "public_security")[-1]
    assert bus.head("natural_resources") == change_ids(city, "natural_resources")[-1]
    assert outbox.cursors == {d: bus.head(d) for d in DEPARTMENTS}


async def test_history_is_enqueued_after_a_restart_but_never_broadcast(
    city: Path, start_bus: StartBus
) -> None:
    before, first, *while_down, after = living(city, 5)
    outbox = Outbox()
    await die(city, before)  # before the first start ever: nothing owes it anything
    live = Live()
    bus = await start_bus(outbox, live)
    await die(city, first)
    await until(lambda: live.keys("public_security") == [first], "the first death broadcast")
    await bus.aclose()

    for person in while_down:
        await die(city, person)
    restarted = Live()
    bus = await start_bus(outbox, restarted)
    assert bus.head("public_security") == change_ids(city, "public_security")[-1]
    await die(city, after)
    await until(lambda: restarted.received != [], "a death after the restart broadcast")

    assert outbox.keys("public_security") == [first, *while_down, after]
    assert restarted.keys("public_security") == [after]
    assert live.keys("public_security") == [first]


async def test_a_failing_enqueue_is_retried_and_nothing_passes_it(
    city: Path, start_bus: StartBus, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = living(city, 2)
    outbox = Outbox()
    live = Live(outbox)
    outbox.cursors["public_security"] = 0
    down = True
    outbox.refuse = lambda change: down
    await start_bus(outbox, live)

    await die(city, first)
    await die(city, second)
    await until(lambda: len(outbox.refused) >= 3, "the first death retried")
    assert {change.key for change in outbox.refused} == {first}
    assert (outbox.enqueued, live.received, outbox.cursors["public_security"]) == ([], [], 0)

    down = False
    await until(lambda: len(live.received) == 2, "both deaths broadcast once the outbox is back")
    assert outbox.keys("public_security") == [first, second]
    assert live.keys("public_security") == [first, second]
    assert "not enqueued (attempt 1), retrying: OutboxDown" in caplog.text
    assert first not in caplog.text and second not in caplog.text


async def test_a_change_never_enqueued_is_enqueued_after_a_restart(city: Path, start_bus: StartBus) -> None:
    first, second, third = living(city, 3)
    outbox = Outbox()
    outbox.cursors["public_security"] = 0
    outbox.refuse = lambda change: change.key == second
    bus = await start_bus(outbox, Live())
    await die(city, first)
    await die(city, second)
    await until(lambda: outbox.refused != [], "the second death refused")
    assert outbox.keys("public_security") == [first]
    await bus.aclose()

    outbox.refuse = lambda change: False
    restarted = Live()
    await start_bus(outbox, restarted)
    await until(lambda: outbox.keys("public_security") == [first, second], "the second death enqueued")
    await die(city, third)
    await until(lambda: restarted.received != [], "the third death broadcast")

    assert outbox.keys("public_security") == [first, second, third]
    assert restarted.keys("public_security") == [third]


async def test_a_failing_broadcast_is_logged_and_skipped(
    city: Path, start_bus: StartBus, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = living(city, 2)
    outbox = Outbox()
    live = Live(outbox)
    live.fail = lambda change: change.key == first
    await start_bus(outbox, live)

    await die(city, first)
    await die(city, second)
    await until(lambda: live.received != [], "the second death broadcast")

    assert live.keys("public_security") == [second]
    assert live.attempts == 2
    assert outbox.keys("public_security") == [first, second]
    assert "not broadcast: RuntimeError" in caplog.text
    assert first not in caplog.text


async def test_an_unreadable_department_is_retried_without_holding_up_the_others(
    city: Path, start_bus: StartBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "govgraph.events.bus")
    away = city / "away"
    away.mkdir()
    shutil.move(city / "public_security.db", away / "public_security.db")
    first, second = living(away, 2)
    [estate] = unseized(city, 1)
    outbox = Outbox()
    outbox.cursors["public_security"] = 0  # the outbox holds everything before the outage
    live = Live()
    await start_bus(outbox, live)

    await seize(city, estate)
    await until(lambda: live.keys("natural_resources") == [estate], "natural resources unaffected")
    await die(away, first)  # recorded while govgraph cannot read it
    shutil.move(away / "public_security.db", city / "public_security.db")
    await until(lambda: outbox.keys("public_security") == [first], "the death enqueued once readable")
    await die(city, second)
    await until(lambda: live.keys("public_security") != [], "a later death broadcast")

    assert live.keys("public_security") == [second]
    assert outbox.keys("public_security") == [first, second]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("public_security: its changes cannot be read" in m for m in messages) == 1, messages
    assert sum("public_security: its changes can be read again" in m for m in messages) == 1, messages


async def test_catalog_feeds_share_one_engine_per_database(city: Path) -> None:
    catalog = load_catalog(DEMO_CATALOG, env={"GOVGRAPH_DEMO_DIR": str(city)})
    sources = CatalogFeeds(catalog, DEPARTMENTS)
    try:
        assert await sources.latest("public_security") == 0
        [person] = living(city, 1)
        await die(city, person)
        first, again = sources.feed("public_security", 0), sources.feed("public_security", 7)
        other = sources.feed("natural_resources", 0)

        assert first.engine is again.engine
        assert other.engine is not first.engine
        assert (first.after, again.after) == (0, 7)
        [change] = await first.fetch(0)
        assert (change.key, await sources.latest("public_security")) == (person, change.id)
    finally:
        await sources.aclose()
    http = HttpSourceSpec.model_validate(
        {
            "kind": "http",
            "url": "http://127.0.0.1:1",
            "tables": {"t": {"fetch": {"path": "/t"}, "columns": {"a": "a"}}},
        }
    )
    taxation = replace(catalog.departments["taxation"], source=http)
    with pytest.raises(ValueError, match="taxation is not a SQL source"):
        CatalogFeeds(
            replace(catalog, departments={**catalog.departments, "taxation": taxation}), ["taxation"]
        )


@pytest.mark.postgres
async def test_a_postgres_department_shares_one_engine_and_delivers_its_changes(postgres_city: str) -> None:
    asyncpg_url = postgres_city.replace("postgresql://", "postgresql+asyncpg://")
    catalog = load_catalog(DEMO_CATALOG, env=postgres_environ(asyncpg_url))
    sources = CatalogFeeds(catalog, DEPARTMENTS, poll_interval=0.05)
    outbox, live = Outbox(), Live()
    bus = LocalChangeBus(sources.feed, DEPARTMENTS, outbox.cursor, sources.latest, backoff=FAST)
    try:
        await bus.start(live.broadcast, outbox.enqueue)
        assert sources.feed("public_security", 0).engine is sources.feed("natural_resources", 0).engine
        await make_change("death", WANG_JIANGUO, None, postgres_city)
        await until(lambda: live.received != [], "the death broadcast")
    finally:
        await bus.aclose()
        await sources.aclose()

    assert outbox.keys("public_security") == live.keys("public_security") == [WANG_JIANGUO]
    assert bus.head("public_security") == outbox.enqueued[0].id
