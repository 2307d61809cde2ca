"""``Outbox``: webhook registrations and the deliveries owed to them, durable in govgraph's own store.

It lives in the audit store's database (``sqlite+aiosqlite:///...`` or
``postgresql+asyncpg://...``), on an engine of its own, in three tables:

- ``govgraph_subscriptions``: one row per ``Registration``;
- ``govgraph_outbox``: one row per change owed to a registration, unique by
  (registration, department, change id), so the same change enqueued twice
  (two processes, a replayed feed) is one delivery;
- ``govgraph_event_cursors``: per department, the last change whose
  deliveries are committed, advanced in the transaction that enqueues them.

``inbox.py`` keeps two more tables in this ``metadata``, made with these.

A process sending deliveries first leases them (``claim``). A registration's
deliveries are leased oldest first and only as an unbroken run: while an
older one waits for its retry, or is out with another process, nothing newer
of that registration is handed out, so every receiver gets changes in order.

Rows hold no value: keys, field names, times, states and HTTP statuses.
Times are ISO 8601 UTC text of one fixed width (``2026-12-03T10:00:00.000000Z``),
so they compare as text on both dialects.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from govgraph.audit.store import write_ahead_log
from govgraph.diagnostics import describe
from govgraph.errors import AuditStoreError
from govgraph.events.registration import PendingDelivery, Registration, State

logger = logging.getLogger("govgraph.events.outbox")

MIGRATION_LOCK_KEY = 0x60F6_A0E1
CLAIM_LOCK_KEY = 0x60F6_A0E2
STATES = ("pending", "delivered", "failed")
MAX_ERROR = 200
"""Characters of ``last_error`` kept: a reason for an operator, never a payload."""
STORE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)

metadata = sa.MetaData()
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

subscriptions = sa.Table(
    "govgraph_subscriptions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("variables", sa.Text, nullable=False),
    sa.Column("operation_name", sa.Text),
    sa.Column("callback_url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

outbox = sa.Table(
    "govgraph_outbox",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("registration_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("department", sa.Text, nullable=False),
    sa.Column("change_id", sa.BigInteger, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("entity_key", sa.Text, nullable=False),
    sa.Column("changed_fields", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("leased_until", sa.Text),
    sa.Column("lease_holder", sa.Text),
    sa.Column("delivered_at", sa.Text),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.UniqueConstraint("registration_id", "department", "change_id", name="govgraph_outbox_change"),
    sa.Index("govgraph_outbox_due", "state", "next_attempt_at"),
    sa.Index("govgraph_outbox_registration", "registration_id", "state", "id"),
)

event_cursors = sa.Table(
    "govgraph_event_cursors",
    metadata,
    sa.Column("department", sa.Text, primary_key=True),
    sa.Column("after", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """One row of the outbox as an operator sees it."""

    delivery: PendingDelivery
    state: str
    next_attempt_at: str
    leased_until: str | None
    delivered_at: str | None
    last_status: int | None
    last_error: str | None


def utc(moment: datetime.datetime | None = None) -> str:
    """``moment`` (default: now) as the outbox writes times."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> str:
    """An ISO 8601 date or time (UTC unless it says otherwise) as the outbox writes times."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time such as 2026-12-03T10:00:00Z, got {text[:40]!r}"
        ) from None
    return utc(moment)


def event_id(registration_id: str, department: str, change_id: int) -> str:
    """The delivery's idempotency key, the same on every attempt and every process."""
    return f"evt_{registration_id.removeprefix('sub_')}_{department}_{change_id}"


POOL_SIZE = 2
"""Connections the outbox holds on a PostgreSQL store, per process (the connection budget counts them)."""


class Outbox:
    def __init__(
        self, url: str, *, pool_size: int = POOL_SIZE, timeout: float = 5.0, connect_timeout: float = 5.0
    ) -> None:
        self._url = url
        self.postgres = url.startswith("postgresql")
        self.pool_size = pool_size
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._engine: AsyncEngine | None = None
        self._ready = False

    async def open(self, *, retry_later: bool = True) -> None:
        """Make the engine and, if the store answers, the tables. A store down now is tried again on first use;
        with ``retry_later=False`` (a command that stops at the first problem) it raises ``AuditStoreError``."""
        options: dict[str, Any] = {"connect_args": {"timeout": self.connect_timeout}}
        if self.postgres:
            options.update(
                pool_size=self.pool_size,
                max_overflow=0,
                pool_timeout=self.timeout,
                connect_args={"timeout": self.connect_timeout, "command_timeout": self.timeout},
            )
        self._engine = create_async_engine(self._url, **options)
        if not self.postgres:
            sa.event.listen(self._engine.sync_engine, "connect", write_ahead_log("outbox"))
        try:
            await self._migrate()
        except AuditStoreError as error:
            if not retry_later:
                raise
            logger.error("outbox unavailable at start-up (%s); will retry on first use", error.problem)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._ready = False

    @contextlib.asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A connection (in a transaction committed at the end when ``write``), tables made first; any failure
        of the store is ``AuditStoreError`` in the driver's scrubbed words. ``inbox.py`` uses it too."""
        if self._engine is None:
            raise AuditStoreError("the outbox is not open")
        if not self._ready:
            await self._migrate()
        try:
            if write:
                async with self._engine.begin() as connection:
                    yield connection
            else:
                async with self._engine.connect() as connection:
                    yield connection
        except STORE_ERRORS as error:
            raise AuditStoreError(describe(error)) from None

    async def _migrate(self) -> None:
        if self._engine is None:
            raise AuditStoreError("the outbox is not open")
        try:
            async with self._engine.connect() as connection:
                if self.postgres:
                    # Processes starting together: CREATE TABLE IF NOT EXISTS alone can still collide there.
                    await connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
                try:
                    for table in metadata.sorted_tables:
                        await connection.execute(sa.schema.CreateTable(table, if_not_exists=True))
                        for index in table.indexes:
                            await connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
                    await connection.commit()
                finally:
                    if self.postgres:
                        await connection.rollback()  # a failed statement would refuse the unlock
                        await connection.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                        await connection.commit()
        except STORE_ERRORS as error:
            raise AuditStoreError(describe(error)) from None
        self._ready = True

    def insert(self, table: sa.Table) -> Any:
        """An INSERT of the store's dialect, with ``on_conflict_do_nothing`` (``inbox.py`` uses it too)."""
        return (postgresql if self.postgres else sqlite).insert(table)

    # Registrations

    async def register(self, registration: Registration) -> None:
        async with self.connection(write=True) as connection:
            await connection.execute(sa.insert(subscriptions).values(_registration_row(registration)))

    async def registrations(self, active_only: bool = False) -> list[Registration]:
        """Oldest first."""
        statement = sa.select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if active_only:
            statement = statement.where(subscriptions.c.state == "active")
        async with self.connection(write=False) as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [_registration(row) for row in rows]

    async def get(self, id: str) -> Registration | None:
        async with self.connection(write=False) as connection:
            row = (
                (await connection.execute(sa.select(subscriptions).where(subscriptions.c.id == id)))
                .mappings()
                .first()
            )
        return None if row is None else _registration(row)

    async def set_state(self, id: str, state: State) -> bool:
        """Pause or resume; ``False`` when there is no such registration. Deliveries owed while paused are
        kept, and go out on resume."""
        if state not in ("active", "paused"):
            raise ValueError(f"a registration is active or paused, not {state!r}")
        async with self.connection(write=True) as connection:
            result = await connection.execute(
                sa.update(subscriptions).where(subscriptions.c.id == id).values(state=state)
            )
        return result.rowcount > 0

    async def remove(self, id: str) -> bool:
        """The registration and every delivery it is owed; ``False`` when there is no such registration."""
        async with self.connection(write=True) as connection:
            await connection.execute(sa.delete(outbox).where(outbox.c.registration_id == id))
            result = await connection.execute(sa.delete(subscriptions).where(subscriptions.c.id == id))
        return result.rowcount > 0

    # Enqueueing

    async def cursor(self, department: str) -> int | None:
        """The last change of ``department`` whose deliveries are committed (``None``: none yet)."""
        async with self.connection(write=False) as connection:
            after = (
                await connection.execute(
                    sa.select(event_cursors.c.after).where(event_cursors.c.department == department)
                )
            ).scalar()
        return None if after is None else int(after)

    async def begin_at(self, department: str, after: int) -> int:
        """Fix where ``department``'s deliveries start, if nothing has yet: the cursor, from now on durable,
        so that a change made while govgraph is down is still read when it starts again."""
        start = self.insert(event_cursors).values(department=department, after=after)
        async with self.connection(write=True) as connection:
            await connection.execute(
                start.on_conflict_do_nothing(index_elements=[event_cursors.c.department])
            )
        return await self.cursor(department) or 0

    async def enqueue(
        self,
        department: str,
        change_id: int,
        entity: str,
        key: str,
        changed_fields_by_registration: Mapping[str, Sequence[str]],
        changed_at: str,
    ) -> None:
        """Commit the deliveries one change owes (registration id → the fields it changed that the registration
        watches) and advance the department's cursor to it, in one transaction. A delivery already owed is left
        as it is."""
        now = utc()
        try:
            at = parse_utc(changed_at)
        except ValueError:
            at = changed_at
        rows = [
            {
                "registration_id": registration_id,
                "event_id": event_id(registration_id, department, change_id),
                "department": department,
                "change_id": change_id,
                "entity": entity,
                "entity_key": key,
                "changed_fields": orjson.dumps(list(fields)).decode(),
                "changed_at": at,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for registration_id, fields in changed_fields_by_registration.items()
        ]
        advance = self.insert(event_cursors).values(department=department, after=change_id)
        advance = advance.on_conflict_do_update(
            index_elements=[event_cursors.c.department],
            set_={
                "after": sa.case(
                    (advance.excluded.after > event_cursors.c.after, advance.excluded.after),
                    else_=event_cursors.c.after,
                )
            },
        )
        async with self.connection(write=True) as connection:
            if rows:
                await connection.execute(
                    self.insert(outbox).on_conflict_do_nothing(
                        index_elements=[outbox.c.registration_id, outbox.c.department, outbox.c.change_id]
                    ),
                    rows,
                )
            await connection.execute(advance)

    # Delivering

    async def claim(self, holder: str, limit: int, lease_seconds: float) -> list[PendingDelivery]:
        """Lease up to ``limit`` due deliveries of active registrations to ``holder`` for ``lease_seconds``:
        per registration an unbroken run, oldest first. No two holders ever hold the same row."""
        now = datetime.datetime.now(datetime.UTC)
        moment = utc(now)
        leased = {
            "leased_until": utc(now + datetime.timedelta(seconds=lease_seconds)),
            "lease_holder": holder,
        }
        candidates = self._candidates(moment, limit)
        if self.postgres:
            return await self._claim_postgresql(candidates, leased)
        return await self._claim_sqlite(candidates, leased, moment)

    async def _claim_postgresql(
        self, candidates: sa.Select[Any], leased: dict[str, str]
    ) -> list[PendingDelivery]:
        async with self.connection(write=True) as connection:
            # Claims take turns: one running beside another would not see its leases yet, and could hand out a
            # registration's next delivery while the one before it is being leased.
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
            locked = candidates.with_for_update(of=outbox, skip_locked=True)
            rows = (await connection.execute(locked)).mappings().all()
            if rows:
                await connection.execute(
                    sa.update(outbox).where(outbox.c.id.in_([row["id"] for row in rows])).values(leased)
                )
        return [_pending(row) for row in rows]

    async def _claim_sqlite(
        self, candidates: sa.Select[Any], leased: dict[str, str], moment: str
    ) -> list[PendingDelivery]:
        """Read, then lease row by row in one write transaction, each lease conditional on the row being as it
        was read; a registration whose row changed in between yields nothing more this time."""
        async with self.connection(write=False) as connection:
            rows = (await connection.execute(candidates)).mappings().all()
        if not rows:
            return []
        claimed: list[PendingDelivery] = []
        stopped: set[str] = set()
        async with self.connection(write=True) as connection:
            for row in rows:
                if row["registration_id"] in stopped:
                    continue
                result = await connection.execute(
                    sa.update(outbox)
                    .where(
                        outbox.c.id == row["id"],
                        outbox.c.state == "pending",
                        outbox.c.attempts == row["attempts"],
                        sa.or_(outbox.c.leased_until.is_(None), outbox.c.leased_until < moment),
                    )
                    .values(leased)
                )
                if result.rowcount == 1:
                    claimed.append(_pending(row))
                else:
                    stopped.add(row["registration_id"])
        return claimed

    def _candidates(self, moment: str, limit: int) -> sa.Select[Any]:
        earlier = outbox.alias("earlier")
        blocked = sa.exists().where(
            earlier.c.registration_id == outbox.c.registration_id,
            earlier.c.state == "pending",
            earlier.c.id < outbox.c.id,
            sa.or_(earlier.c.next_attempt_at > moment, earlier.c.leased_until >= moment),
        )
        return (
            sa.select(outbox)
            .join(subscriptions, subscriptions.c.id == outbox.c.registration_id)
            .where(
                outbox.c.state == "pending",
                outbox.c.next_attempt_at <= moment,
                sa.or_(outbox.c.leased_until.is_(None), outbox.c.leased_until < moment),
                subscriptions.c.state == "active",
                ~blocked,
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )

    async def release(self, ids: Iterable[int], holder: str) -> None:
        """Give back leases ``holder`` will not use, so that the rows are claimable at once."""
        ids = list(ids)
        if not ids:
            return
        async with self.connection(write=True) as connection:
            await connection.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.lease_holder == holder, outbox.c.state == "pending")
                .values(leased_until=None, lease_holder=None)
            )

    async def delivered(self, id: int, status: int | None) -> None:
        """Delivered (``status``: the receiver's answer; ``None`` when there was nothing to send), whoever holds
        it now: a success is one even when it came in after its lease ran out."""
        await self._finish(id, None, {"state": "delivered", "delivered_at": utc(), "last_status": status})

    async def failed_attempt(
        self,
        id: int,
        status: int | None,
        error: str,
        next_attempt_at: datetime.datetime,
        *,
        holder: str | None = None,
    ) -> None:
        """An attempt failed; the next is due at ``next_attempt_at``. With ``holder``, only while it holds the
        lease: a holder whose lease ran out does not reschedule a delivery another process has taken over."""
        values = {
            "next_attempt_at": utc(next_attempt_at),
            "last_status": status,
            "last_error": error[:MAX_ERROR],
        }
        await self._finish(id, holder, values)

    async def give_up(self, id: int, status: int | None, error: str, *, holder: str | None = None) -> None:
        """The last attempt failed: the delivery is ``failed`` until replayed (``holder``: as for
        ``failed_attempt``)."""
        values = {"state": "failed", "last_status": status, "last_error": error[:MAX_ERROR]}
        await self._finish(id, holder, values)

    async def _finish(self, id: int, holder: str | None, values: dict[str, Any]) -> None:
        statement = sa.update(outbox).where(outbox.c.id == id, outbox.c.state == "pending")
        if holder is not None:
            statement = statement.where(outbox.c.lease_holder == holder)
        async with self.connection(write=True) as connection:
            await connection.execute(
                statement.values(
                    attempts=outbox.c.attempts + 1, leased_until=None, lease_holder=None, **values
                )
            )

    async def replay(self, registration_id: str, from_: str) -> int:
        """Put a registration's delivered and failed deliveries of changes at or after ``from_`` (ISO 8601)
        back to pending, due now, with their attempts reset; how many."""
        since = parse_utc(from_)
        async with self.connection(write=True) as connection:
            result = await connection.execute(
                sa.update(outbox)
                .where(
                    outbox.c.registration_id == registration_id,
                    outbox.c.state.in_(("delivered", "failed")),
                    outbox.c.changed_at >= since,
                )
                .values(
                    state="pending",
                    attempts=0,
                    next_attempt_at=utc(),
                    leased_until=None,
                    lease_holder=None,
                    delivered_at=None,
                )
            )
        return result.rowcount

    # Listing

    async def deliveries(self, registration_id: str | None = None, limit: int = 100) -> list[DeliveryStatus]:
        """Newest first."""
        statement = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if registration_id is not None:
            statement = statement.where(outbox.c.registration_id == registration_id)
        async with self.connection(write=False) as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [
            DeliveryStatus(
                _pending(row),
                row["state"],
                row["next_attempt_at"],
                row["leased_until"],
                row["delivered_at"],
                row["last_status"],
                row["last_error"],
            )
            for row in rows
        ]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Registration id → deliveries per state (every state present, zero or not)."""
        statement = sa.select(outbox.c.registration_id, outbox.c.state, sa.func.count()).group_by(
            outbox.c.registration_id, outbox.c.state
        )
        async with self.connection(write=False) as connection:
            rows = (await connection.execute(statement)).all()
        counted: dict[str, dict[str, int]] = {}
        for registration_id, state, count in rows:
            counted.setdefault(registration_id, dict.fromkeys(STATES, 0))[state] = int(count)
        return counted


def _registration_row(registration: Registration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "subject": registration.subject,
        "department": registration.department,
        "roles": orjson.dumps(list(registration.roles)).decode(),
        "purpose": registration.purpose,
        "entity": registration.entity,
        "fields": orjson.dumps(list(registration.fields)).decode(),
        "document": registration.document,
        "variables": orjson.dumps(registration.variables).decode(),
        "operation_name": registration.operation_name,
        "callback_url": registration.callback_url,
        "secret": registration.secret,
        "state": registration.state,
        "created_at": registration.created_at or utc(),
    }


def _registration(row: Mapping[str, Any]) -> Registration:
    return Registration(
        id=row["id"],
        subject=row["subject"],
        department=row["department"],
        roles=tuple(orjson.loads(row["roles"])),
        purpose=row["purpose"],
        entity=row["entity"],
        fields=tuple(orjson.loads(row["fields"])),
        document=row["document"],
        variables=orjson.loads(row["variables"]),
        operation_name=row["operation_name"],
        callback_url=row["callback_url"],
        secret=row["secret"],
        state=row["state"],
        created_at=row["created_at"],
    )


def _pending(row: Mapping[str, Any]) -> PendingDelivery:
    return PendingDelivery(
        id=int(row["id"]),
        registration_id=row["registration_id"],
        event_id=row["event_id"],
        department=row["department"],
        change_id=int(row["change_id"]),
        entity=row["entity"],
        key=row["entity_key"],
        changed_fields=tuple(orjson.loads(row["changed_fields"])),
        changed_at=row["changed_at"],
        attempts=int(row["attempts"]),
    )
