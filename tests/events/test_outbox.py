"""The webhook outbox on SQLite and PostgreSQL: registrations, idempotent enqueueing with the department's
cursor, leases that two processes never share, per-registration order, and replay."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from govgraph.errors import AuditStoreError
from govgraph.events.outbox import Outbox, outbox
from govgraph.events.registration import PendingDelivery, Registration
from tests.conftest import empty_postgres_database

PG = "postgresql://postgres@127.0.0.1:5432"
BOUND = 10.0
"""The longest a test waits for a lease to expire; passing never depends on it."""
PAST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty store of each kind: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/audit.db"
        return
    async with empty_postgres_database("govgraph_test_outbox") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://")


@pytest.fixture
async def box(store_url: str) -> AsyncIterator[Outbox]:
    store = Outbox(store_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def registration(number: int = 1, **overrides: object) -> Registration:
    values: dict[str, object] = {
        "id": f"sub_{number:024x}",
        "subject": "clerk-7",
        "department": "civil_affairs",
        "roles": ("subsistence_officer",),
        "purpose": "subsistence-review",
        "entity": "Person",
        "fields": ("deceased", "dateOfDeath"),
        "document": "subscription { changes(entity: Person, fields: [deceased]) { key } }",
        "variables": {"limit": 3, "nested": {"a": [1, 2]}},
        "operation_name": "Deaths",
        "callback_url": f"https://receiver.example/hooks/{number}?token=abc",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "created_at": f"2026-12-01T08:00:{number:02d}.000000Z",
    }
    values.update(overrides)
    return Registration(**values)  # type: ignore[arg-type]


async def enqueue(store: Outbox, change_id: int, *registrations: Registration, at: str | None = None) -> None:
    await store.enqueue(
        "public_security",
        change_id,
        "Person",
        f"11010119900307{change_id:04d}",
        {item.id: ("deceased",) for item in registrations},
        at or f"2026-12-03T10:00:{change_id % 60:02d}.000Z",
    )


async def test_registrations_round_trip_pause_resume_and_remove(box: Outbox) -> None:
    first, second = registration(1), registration(2, subject=None, variables={}, operation_name=None)
    await box.register(second)
    await box.register(first)

    assert await box.registrations() == [first, second]
    assert await box.get(first.id) == first
    assert await box.get("sub_unknown") is None

    assert await box.set_state(first.id, "paused") is True
    assert [item.id for item in await box.registrations(active_only=True)] == [second.id]
    assert (await box.get(first.id)).state == "paused"  # type: ignore[union-attr]
    assert await box.set_state(first.id, "active") is True
    assert await box.set_state("sub_unknown", "paused") is False
    with pytest.raises(ValueError, match="active or paused"):
        await box.set_state(first.id, "deleted")  # type: ignore[arg-type]

    await enqueue(box, 1, first, second)
    assert await box.remove(first.id) is True
    assert await box.remove(first.id) is False
    assert await box.registrations() == [second]
    assert [status.delivery.registration_id for status in await box.deliveries()] == [second.id]


async def test_the_same_change_enqueued_twice_is_one_delivery(store_url: str) -> None:
    # Two processes of their own, each hearing the change from its own feed.
    one, other = Outbox(store_url), Outbox(store_url)
    await one.open()
    await other.open()
    try:
        subscriber = registration()
        await one.register(subscriber)
        await asyncio.gather(enqueue(one, 7, subscriber), enqueue(other, 7, subscriber))
        await enqueue(one, 7, subscriber)

        [status] = await one.deliveries(subscriber.id)
        assert status.state == "pending"
        assert status.delivery == PendingDelivery(
            id=status.delivery.id,
            registration_id=subscriber.id,
            event_id=f"evt_{subscriber.id.removeprefix('sub_')}_public_security_7",
            department="public_security",
            change_id=7,
            entity="Person",
            key="110101199003070007",
            changed_fields=("deceased",),
            changed_at="2026-12-03T10:00:07.000000Z",
            attempts=0,
        )
        assert await one.counts() == {subscriber.id: {"pending": 1, "delivered": 0, "failed": 0}}
    finally:
        await one.close()
        await other.close()


async def test_enqueueing_advances_the_departments_cursor_never_back(box: Outbox) -> None:
    subscriber = registration()
    await box.register(subscriber)
    assert await box.cursor("public_security") is None

    await enqueue(box, 5, subscriber)
    assert await box.cursor("public_security") == 5
    await enqueue(box, 9)  # owed to nobody: the cursor still moves past it
    assert await box.cursor("public_security") == 9
    await enqueue(box, 6, subscriber)  # a replayed feed
    assert await box.cursor("public_security") == 9
    assert await box.cursor("taxation") is None
    assert [status.delivery.change_id for status in await box.deliveries()] == [6, 5]


async def test_the_cursor_moves_only_with_the_deliveries_it_covers(box: Outbox) -> None:
    subscriber = registration()
    await box.register(subscriber)
    await enqueue(box, 5, subscriber)
    async with box.connection(write=True) as connection:
        # The deliveries' insert now fails inside the transaction that would move the cursor.
        await connection.execute(sa.text(f"ALTER TABLE {outbox.name} RENAME TO govgraph_outbox_away"))

    with pytest.raises(AuditStoreError):
        await enqueue(box, 6, subscriber)

    assert await box.cursor("public_security") == 5


async def test_two_claimers_never_hold_the_same_delivery(store_url: str) -> None:
    one, other = Outbox(store_url), Outbox(store_url)
    await one.open()
    await other.open()
    subscribers = [registration(number) for number in range(1, 7)]
    try:
        for subscriber in subscribers:
            await one.register(subscriber)
        for change_id in range(1, 31):
            await enqueue(one, change_id, *subscribers)
        claims: dict[str, list[list[PendingDelivery]]] = {"one": [], "other": []}

        async def drain(store: Outbox, holder: str) -> None:
            for _ in range(200):  # bounded: 180 deliveries, and the other claimer takes its share
                claimed = await store.claim(holder, 7, 60)
                claims[holder].append(claimed)
                for delivery in claimed:
                    await store.delivered(delivery.id, 204)
                if not claimed and all(not counts["pending"] for counts in (await store.counts()).values()):
                    return
                await asyncio.sleep(0)
            raise AssertionError(f"{holder} did not see the outbox drained")

        await asyncio.gather(drain(one, "one"), drain(other, "other"))

        taken = [delivery.id for batches in claims.values() for batch in batches for delivery in batch]
        assert len(taken) == len(set(taken)) == 180
        assert all(counts["delivered"] == 30 for counts in (await one.counts()).values())
        # Within every claim, each registration's deliveries come in change order.
        for batches in claims.values():
            for batch in batches:
                for subscriber in subscribers:
                    changes = [
                        delivery.change_id for delivery in batch if delivery.registration_id == subscriber.id
                    ]
                    assert changes == sorted(changes)
    finally:
        await one.close()
        await other.close()


async def test_a_held_lease_keeps_a_delivery_from_others_and_an_expired_one_frees_it(box: Outbox) -> None:
    subscriber = registration()
    await box.register(subscriber)
    await enqueue(box, 1, subscriber)
    await enqueue(box, 2, registration(2))  # owed to a registration that does not exist: never claimed

    [held] = await box.claim("crashed", 10, 60)
    assert held.change_id == 1
    assert await box.claim("survivor", 10, 60) == []

    await box.release([held.id], "someone-else")  # only the holder gives its lease back
    assert await box.claim("survivor", 10, 60) == []
    await box.release([held.id], "crashed")
    [again] = await box.claim("crashed", 10, 0.2)  # a process that then dies, holding it briefly

    deadline = time.monotonic() + BOUND
    while not (taken := await box.claim("survivor", 10, 60)):
        assert time.monotonic() < deadline, f"the lease did not expire within {BOUND}s"
        await asyncio.sleep(0.05)
    assert [delivery.id for delivery in taken] == [again.id]
    [status] = await box.deliveries(subscriber.id)
    assert status.leased_until is not None and status.state == "pending"


async def test_a_registration_waits_for_its_oldest_delivery(box: Outbox) -> None:
    slow, other = registration(1), registration(2)
    await box.register(slow)
    await box.register(other)
    for change_id in (1, 2, 3):
        await enqueue(box, change_id, slow, other)

    claimed = await box.claim("worker", 2, 60)
    assert [(item.registration_id, item.change_id) for item in claimed] == [(slow.id, 1), (other.id, 1)]
    # While change 1 is out, change 2 of the same registration is not handed to anyone.
    assert [(item.registration_id, item.change_id) for item in await box.claim("peer", 10, 60)] == []

    first_of_slow, first_of_other = claimed
    await box.failed_attempt(first_of_slow.id, 503, "HTTP 503", FUTURE, holder="worker")
    await box.delivered(first_of_other.id, 200)

    # Change 1 of ``slow`` waits for its retry, so nothing after it goes out; ``other`` goes on.
    claimed = await box.claim("worker", 10, 60)
    assert [(item.registration_id, item.change_id) for item in claimed] == [(other.id, 2), (other.id, 3)]

    # Only the holder reschedules a delivery.
    await box.failed_attempt(first_of_slow.id, None, "connection failed", PAST, holder="peer")
    [status] = [item for item in await box.deliveries(slow.id) if item.delivery.change_id == 1]
    assert (status.delivery.attempts, status.last_status, status.last_error) == (1, 503, "HTTP 503")

    async with box.connection(write=True) as connection:  # its retry comes due
        await connection.execute(
            sa.update(outbox).where(outbox.c.id == first_of_slow.id).values(next_attempt_at="2000-01-01")
        )
    claimed = await box.claim("worker", 10, 60)
    assert [(item.change_id, item.attempts) for item in claimed] == [(1, 1), (2, 0), (3, 0)]


async def test_a_paused_registration_is_owed_deliveries_but_gets_none_until_resumed(box: Outbox) -> None:
    subscriber = registration()
    await box.register(subscriber)
    await box.set_state(subscriber.id, "paused")
    await enqueue(box, 1, subscriber)

    assert await box.claim("worker", 10, 60) == []
    await box.set_state(subscriber.id, "active")
    assert [item.change_id for item in await box.claim("worker", 10, 60)] == [1]


async def test_failed_deliveries_and_replay(box: Outbox) -> None:
    subscriber, bystander = registration(1), registration(2)
    await box.register(subscriber)
    await box.register(bystander)
    await enqueue(box, 1, subscriber, bystander, at="2026-12-03T09:59:59.999Z")
    await enqueue(box, 2, subscriber, bystander, at="2026-12-03T10:00:00.000Z")
    await enqueue(box, 3, subscriber, at="2026-12-03T11:00:00+01:00")  # 10:00 UTC
    await enqueue(box, 4, subscriber, at="2026-12-03T10:30:00Z")

    first, second, third, fourth = [
        item for item in await box.claim("worker", 10, 60) if item.registration_id == subscriber.id
    ]
    await box.delivered(first.id, 200)
    await box.delivered(second.id, 200)
    await box.give_up(third.id, 500, "HTTP 500")
    await box.release([fourth.id], "worker")  # still pending: not replayed
    for item in await box.deliveries(bystander.id):
        await box.delivered(item.delivery.id, 204)
    assert (await box.counts())[subscriber.id] == {"pending": 1, "delivered": 2, "failed": 1}

    assert await box.replay(subscriber.id, "2026-12-03T10:00:00Z") == 2

    states = {item.delivery.change_id: item for item in await box.deliveries(subscriber.id)}
    assert {change: item.state for change, item in states.items()} == {
        1: "delivered",
        2: "pending",
        3: "pending",
        4: "pending",
    }
    assert states[3].delivery.attempts == 0 and states[3].last_error == "HTTP 500"
    assert states[2].delivered_at is None
    assert (await box.counts())[bystander.id] == {"pending": 0, "delivered": 2, "failed": 0}
    assert [item.change_id for item in await box.claim("worker", 10, 60)] == [2, 3, 4]
    with pytest.raises(ValueError, match="ISO 8601"):
        await box.replay(subscriber.id, "last tuesday")


async def test_a_store_that_cannot_be_reached_is_one_clear_error(tmp_path: Path) -> None:
    store = Outbox(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/audit.db")
    await store.open()  # the server starts, and tries again on first use
    try:
        with pytest.raises(AuditStoreError, match="audit store: unable to open database file"):
            await store.registrations()
    finally:
        await store.close()
