"""``Inbox``: the changes departments behind services report, kept in govgraph's own store until read.

A department whose records sit behind an API or a GraphQL service has no
change table govgraph can read, so it calls ``POST /changes/{department}``
instead (``http/changes.py``). Each call is committed here, beside the
outbox, before it is answered, in two tables:

- ``govgraph_received_changes``: one row a change, as a department's own
  change table would hold it: entity, key, changed columns, time, never a
  value. Its ids are the department's change ids for the bus and the cursor.
- ``govgraph_change_messages``: the ``webhook-id`` of every call taken, so a
  call the department retries is recorded once.

On PostgreSQL, calls are recorded one at a time (a transaction-level
advisory lock), so ids commit in order and "the changes after id N" never
skips one that commits late. An ``InboxFeed`` reads a department's changes,
woken by a call taken in this process and polled for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence

import orjson
import sqlalchemy as sa

from govgraph.events.change import Change
from govgraph.events.feed import PolledFeed
from govgraph.events.outbox import Outbox, metadata, utc
from govgraph.events.received import ReceivedChange

RECORD_LOCK_KEY = 0x60F6_A0E3
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

received_changes = sa.Table(
    "govgraph_received_changes",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("entity_key", sa.Text, nullable=False),
    sa.Column("changed_columns", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("received_at", sa.Text, nullable=False),
    sa.Index("govgraph_received_changes_department", "department", "id"),
    sqlite_autoincrement=True,  # an id is never reused, so "after id N" stays a safe cursor
)

change_messages = sa.Table(
    "govgraph_change_messages",
    metadata,
    sa.Column("department", sa.Text, primary_key=True),
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("received_at", sa.Text, nullable=False),
)


class Inbox:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._wakes: dict[str, set[asyncio.Event]] = {}

    async def receive(self, department: str, message_id: str, changes: Sequence[ReceivedChange]) -> bool:
        """Commit one call's changes; ``False`` when a call with this ``message_id`` was already taken."""
        now = utc()
        message = self.outbox.insert(change_messages).values(
            department=department, message_id=message_id, received_at=now
        )
        async with self.outbox.connection(write=True) as connection:
            if self.outbox.postgres:
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORD_LOCK_KEY)))
            taken = await connection.execute(
                message.on_conflict_do_nothing().returning(change_messages.c.message_id)
            )
            if taken.first() is None:
                return False
            if changes:
                await connection.execute(
                    sa.insert(received_changes),
                    [
                        {
                            "department": department,
                            "entity": change.entity,
                            "entity_key": change.key,
                            "changed_columns": _json_list(change.columns),
                            "changed_at": change.at,
                            "message_id": message_id,
                            "received_at": now,
                        }
                        for change in changes
                    ],
                )
        for wake in self._wakes.get(department, ()):
            wake.set()
        return True

    async def fetch(self, department: str, after: int, limit: int = 500) -> list[Change]:
        """The department's changes with an id above ``after``, oldest first."""
        statement = (
            sa.select(received_changes)
            .where(received_changes.c.department == department, received_changes.c.id > after)
            .order_by(received_changes.c.id)
            .limit(limit)
        )
        async with self.outbox.connection(write=False) as connection:
            rows = (await connection.execute(statement)).all()
        return [Change.from_row(department, row) for row in rows]

    async def latest(self, department: str) -> int:
        statement = sa.select(sa.func.max(received_changes.c.id)).where(
            received_changes.c.department == department
        )
        async with self.outbox.connection(write=False) as connection:
            return int((await connection.execute(statement)).scalar() or 0)

    def feed(self, department: str, after: int, poll_interval: float = 1.0) -> InboxFeed:
        return InboxFeed(self, department, after, poll_interval)

    @contextlib.contextmanager
    def woken(self, department: str, event: asyncio.Event) -> Iterator[None]:
        """While the block runs, ``event`` is set by every call taken for ``department`` in this process."""
        self._wakes.setdefault(department, set()).add(event)
        try:
            yield
        finally:
            self._wakes[department].discard(event)


class InboxFeed(PolledFeed):
    """A department's received changes after ``after``, as they come: a ``ChangeFeed`` for the bus."""

    def __init__(
        self, inbox: Inbox, department: str, after: int, poll_interval: float, batch: int = 500
    ) -> None:
        super().__init__(department, after, poll_interval, batch)
        self.inbox = inbox

    async def fetch(self, after: int) -> list[Change]:
        return await self.inbox.fetch(self.department, after, self.batch)

    async def __aiter__(self) -> AsyncIterator[Change]:
        with self.inbox.woken(self.department, self._wake):
            async for change in self._polled():
                yield change


def _json_list(names: Sequence[str]) -> str:
    return orjson.dumps(list(names)).decode()
