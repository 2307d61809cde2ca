"""On PostgreSQL, change ids become visible in the order they were taken, so "the changes after id N" skips none.

A sequence alone does not promise it: a transaction that took id 7 may
commit after one that took id 8, and a reader that has seen 8 never asks for
7. The department's trigger and govgraph's inbox both record changes one
transaction at a time; these tests hold the first transaction open and watch
the second wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from govgraph.events.inbox import RECORD_LOCK_KEY, Inbox
from govgraph.events.outbox import Outbox
from govgraph.events.received import ReceivedChange
from tests.conftest import empty_postgres_database

POLLS = 500
"""Bound on the checks that the second transaction is waiting; passing never depends on it."""

pytestmark = pytest.mark.postgres


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    async with empty_postgres_database("govgraph_test_order") as url:
        yield url


async def _waiting_on_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    for _ in range(POLLS):
        waiting = await observer.fetchval(
            "SELECT wait_event_type = 'Lock' AND wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $1",
            pid,
        )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


async def test_a_department_s_second_change_commits_after_the_first_whatever_rows_they_touch(
    postgres_city: str,
) -> None:
    first, second, reader = [await asyncpg.connect(postgres_city) for _ in range(3)]
    try:
        units = [
            row[0]
            for row in await reader.fetch("SELECT bdcqzh FROM natural_resources.real_estate_units LIMIT 2")
        ]
        seize = "UPDATE natural_resources.real_estate_units SET seized = NOT seized WHERE bdcqzh = $1"
        changes = "SELECT id, entity_key FROM natural_resources.govgraph_changes ORDER BY id"
        opened = first.transaction()
        await opened.start()
        await first.execute(seize, units[0])
        [(first_id, _)] = await first.fetch(changes)

        later = asyncio.create_task(second.execute(seize, units[1]))  # its own transaction, another row
        await _waiting_on_a_lock(reader, second.get_server_pid())
        assert await reader.fetch(changes) == [], "nothing is visible while the first is open"
        await opened.commit()
        await asyncio.wait_for(later, 30)

        rows = await reader.fetch(changes)
        assert [(row["id"], row["entity_key"]) for row in rows] == [
            (first_id, units[0]),
            (rows[1]["id"], units[1]),
        ]
        assert rows[1]["id"] > first_id
    finally:
        for connection in (first, second, reader):
            await connection.close()


async def test_govgraph_s_inbox_records_one_call_at_a_time_in_id_order(empty_database: str) -> None:
    database = empty_database
    outbox = Outbox(database.replace("postgresql://", "postgresql+asyncpg://"))
    await outbox.open(retry_later=False)
    inbox = Inbox(outbox)
    holder, observer = await asyncpg.connect(database), await asyncpg.connect(database)
    change = ReceivedChange("Person", "110101199003071233", ("tax_compliant",), "2026-12-03T10:00:00.000Z")
    try:
        assert await inbox.receive("taxation", "msg_1", [change]) is True
        held = holder.transaction()
        await held.start()
        await holder.execute(
            "SELECT pg_advisory_xact_lock($1)", RECORD_LOCK_KEY
        )  # as a call in progress would

        later = asyncio.create_task(inbox.receive("taxation", "msg_2", [change]))
        pid = await _recording_pid(observer)
        await _waiting_on_a_lock(observer, pid)
        await held.rollback()
        assert await asyncio.wait_for(later, 30) is True

        assert await inbox.receive("taxation", "msg_2", [change]) is False, "the same webhook-id again"
        ids = [found.id for found in await inbox.fetch("taxation", 0)]
        assert len(ids) == 2 and ids[0] < ids[1]
        assert await inbox.latest("taxation") == ids[1]
    finally:
        await holder.close()
        await observer.close()
        await outbox.close()


async def _recording_pid(observer: asyncpg.Connection) -> int:
    """The backend of the inbox's call waiting for the lock (the only other client asking for it)."""
    for _ in range(POLLS):
        pid = await observer.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE '%pg_advisory_xact_lock%' AND state = 'active' AND wait_event = 'advisory'"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("the inbox's call never asked for the lock")
