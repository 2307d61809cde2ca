"""``AuditStore``: the durable, hash-chained audit trail, through SQLAlchemy async.

SQLite by default, PostgreSQL when ``GOVGRAPH_AUDIT_URL`` says so. Every
append takes the next positions of one ordered chain: on PostgreSQL under a
transaction-scoped advisory lock, so several server processes write one
chain; everywhere, a unique position and retry catch any race.

Its tables are created once, under a lock (a session advisory lock on
PostgreSQL, a file lock beside a SQLite file), so server processes starting
together on a fresh database do not collide. Waits are bounded: for a
pooled connection, for a new one, and for each statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from govgraph.audit import chain_function
from govgraph.audit.records import (
    GENESIS_HASH,
    AuditRecord,
    FieldDecision,
    chain_hash,
    content_hash,
    entity_dict,
    entity_from_dict,
    field_dict,
)
from govgraph.audit.tables import (
    AUDIT_KEYS,
    AUDIT_KEYS_DDL,
    AUDIT_KEYS_INSERT,
    POSTGRESQL_TABLES,
    SCHEMA_VERSION,
    SQLITE_TABLES,
    audit_entities,
    audit_meta,
    audit_records,
    audit_subjects,
    audit_usage,
    key_token,
    key_tokens,
)
from govgraph.diagnostics import describe
from govgraph.errors import AuditStoreError, AuditUnavailable

logger = logging.getLogger("govgraph.audit")

ADVISORY_LOCK_KEY = 0x60F6_A0D1
MIGRATION_LOCK_KEY = 0x60F6_A0D2
CREATION_LOCK_KEY = 0x60F6_A0D3
MISSING_DATABASE = "3D000"
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*$")
"""The audit databases govgraph creates itself: a name it can quote safely (identifiers are no parameters)."""
APPEND_ATTEMPTS = 8
POSTGRESQL_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    position: int
    record: AuditRecord
    content_hash: str
    previous_hash: str
    record_hash: str


@dataclass(frozen=True, slots=True)
class ChainBreak:
    position: int
    problem: str


@dataclass(frozen=True, slots=True)
class AuditFilter:
    subject: str | None = None
    department: str | None = None
    entity_key: str | None = None
    field: str | None = None
    purpose: str | None = None
    occurred_from: str | None = None
    occurred_to: str | None = None


USAGE_DIMENSIONS = {
    "provider": audit_usage.c.provider,
    "consumer": audit_usage.c.consumer,
    "field": audit_usage.c.coordinate,
    "purpose": audit_usage.c.purpose,
    "servedFrom": audit_usage.c.served_from,
}
USAGE_PERIODS = {"hour": 13, "day": 10}
"""How many leading characters of ``occurred_at`` name its hour (``2025-01-31T09``) or day (``2025-01-31``)."""


def _within(statement: sa.Select[Any], occurred_from: str | None, occurred_to: str | None) -> sa.Select[Any]:
    """Usage rows from ``occurred_from`` (inclusive) to ``occurred_to`` (exclusive), either end open."""
    if occurred_from is not None:
        statement = statement.where(audit_usage.c.occurred_at >= occurred_from)
    if occurred_to is not None:
        statement = statement.where(audit_usage.c.occurred_at < occurred_to)
    return statement


class AuditStore:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
        create_database: bool = True,
    ) -> None:
        """``create_database``: make a missing PostgreSQL database (the server does; a command that only
        reads the trail does not, so that a mistyped URL is said, not answered with an empty chain)."""
        self._url = url
        self.create_database = create_database
        self.pool_size = pool_size
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._postgres = url.startswith("postgresql")
        self._engine: AsyncEngine | None = None
        self._ready = False
        self._lock = asyncio.Lock()
        self._writer: asyncpg.Connection | None = None

    async def open(self) -> None:
        options: dict[str, Any] = {}
        if self._postgres:
            options.update(
                pool_size=self.pool_size,
                max_overflow=0,
                pool_timeout=self.timeout,
                connect_args={"timeout": self.connect_timeout, "command_timeout": self.timeout},
            )
        else:
            options["connect_args"] = {"timeout": self.connect_timeout}
        self._engine = create_async_engine(self._url, **options)
        if not self._postgres:
            sa.event.listen(self._engine.sync_engine, "connect", write_ahead_log("audit store"))
        try:
            await self._migrate()
        except (SQLAlchemyError, OSError) as error:
            logger.error(
                "audit store unavailable at start-up (%s); will retry on first write", describe(error)
            )

    async def check(self) -> None:
        """Raise ``AuditStoreError`` unless the chain's table answers a read; its tables are made first if
        start-up could not make them (so a store that comes up later becomes ready)."""
        try:
            if not self._ready:
                await self._migrate()
            async with self.engine.connect() as connection:
                await connection.execute(sa.select(audit_records.c.position).limit(1))
        except AuditUnavailable:
            raise AuditStoreError("not open") from None
        except (SQLAlchemyError, OSError, *POSTGRESQL_ERRORS) as error:
            raise AuditStoreError(describe(error)) from None

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await asyncio.wait_for(writer.close(), self.timeout)
            except (OSError, TimeoutError, *POSTGRESQL_ERRORS):
                writer.terminate()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise AuditUnavailable()
        return self._engine

    async def _migrate(self) -> None:
        """Create the tables once, whichever process gets there first; on PostgreSQL the database too, when
        it does not exist and the role may create it."""
        try:
            await self._migrate_tables()
        except SQLAlchemyError as error:
            if not self._postgres or _sqlstate(error) != MISSING_DATABASE:
                raise
            if not self.create_database:
                name = make_url(self._url).database or ""
                create = f'; if the URL is right, create it with: CREATE DATABASE "{name}";'
                raise AuditStoreError(
                    f'database "{name}" does not exist' + (create if DATABASE_NAME.fullmatch(name) else "")
                ) from None
            await self._create_database()
            await self._migrate_tables()

    async def _create_database(self) -> None:
        """``CREATE DATABASE`` through the ``postgres`` maintenance database, with the store's credentials;
        processes starting together take turns under an advisory lock there."""
        url = make_url(self._url)
        name = url.database or ""
        if not DATABASE_NAME.fullmatch(name):
            raise AuditStoreError(
                f"database {name!r} does not exist, and govgraph creates only databases named like "
                f"{DATABASE_NAME.pattern}; create it yourself"
            )
        maintenance = url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        try:
            connection = await asyncpg.connect(maintenance, timeout=self.connect_timeout)
            try:
                await connection.execute("SELECT pg_advisory_lock($1)", CREATION_LOCK_KEY)
                if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None:
                    await connection.execute(f'CREATE DATABASE "{name}"')
                    logger.warning('audit store: created database "%s"', name)
            finally:
                await connection.close()
        except asyncpg.InsufficientPrivilegeError:
            raise AuditStoreError(_cannot_create(name, "permission denied")) from None
        except (OSError, TimeoutError, *POSTGRESQL_ERRORS) as error:
            raise AuditStoreError(_cannot_create(name, describe(error))) from None

    async def _migrate_tables(self) -> None:
        if self._postgres:
            async with self.engine.connect() as connection:
                await connection.execute(
                    sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                try:
                    await self._create(connection)
                    await chain_function.install(connection)
                    await connection.commit()
                    await _compress_with_lz4(connection)
                finally:
                    await connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    await connection.commit()
        else:
            async with _file_lock(self._url), self.engine.connect() as connection:
                await self._create(connection)
                await connection.commit()
        self._ready = True

    async def _create(self, connection: Any) -> None:
        tables = POSTGRESQL_TABLES if self._postgres else SQLITE_TABLES
        await connection.run_sync(lambda sync: audit_meta.metadata.create_all(sync, tables=list(tables)))
        if not self._postgres:
            await connection.execute(sa.text(AUDIT_KEYS_DDL))
            await _entities_to_keys(connection)
        await connection.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS govgraph_audit_records_request_id ON {audit_records.name} (request_id)"
            )
        )
        version = (
            await connection.execute(
                sa.select(audit_meta.c.value).where(audit_meta.c.name == "schema_version")
            )
        ).scalar()
        if version is None:
            await connection.execute(
                sa.insert(audit_meta).values(name="schema_version", value=str(SCHEMA_VERSION))
            )
        elif int(version) < SCHEMA_VERSION:
            if self._postgres and int(version) < 2:
                await _entities_to_subjects(connection)
            if int(version) < 3 and not await _has_column(connection, audit_records.name, "delivery"):
                await connection.execute(
                    sa.text(f"ALTER TABLE {audit_records.name} ADD COLUMN delivery text")
                )
                logger.warning("audit store: added %s.delivery (schema 3)", audit_records.name)
            await connection.execute(
                sa.update(audit_meta)
                .where(audit_meta.c.name == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )

    async def append(self, records: Sequence[AuditRecord], *, skip_recorded: bool = False) -> list[int]:
        """Commit records at the end of the chain; their positions once committed.

        ``skip_recorded``: leave out records whose request id the chain already holds (a journal replayed
        twice, or a commit that went through after its request had given up on it). On PostgreSQL every
        append does so, in the chain's function, whatever is asked."""
        if not records:
            return []
        try:
            if not self._ready:
                await self._migrate()
            for _ in range(APPEND_ATTEMPTS):
                try:
                    async with self._lock:
                        if self._postgres:
                            return await self._append_postgresql(records)
                        return await self._append(records, skip_recorded)
                except (IntegrityError, asyncpg.UniqueViolationError):
                    await asyncio.sleep(0.01)
            raise AuditUnavailable()
        except AuditStoreError as error:
            logger.error("audit store write failed: %s", error.problem)
            raise AuditUnavailable() from None
        except (SQLAlchemyError, OSError, TimeoutError, *POSTGRESQL_ERRORS) as error:
            logger.error("audit store write failed: %s", describe(error))
            raise AuditUnavailable() from None

    async def _append_postgresql(self, records: Sequence[AuditRecord]) -> list[int]:
        """The chain's hot path on PostgreSQL, on one asyncpg connection of its own (appends take turns
        under ``_lock``): one call to ``chain_function``, lock to commit in one round trip, which every
        request of a group commit waits for. Records the chain holds already are left out."""
        connection = await self._writer_connection()
        rows = _chained_rows(_unique_unrecorded(records, set()), None, chain=False)
        try:
            positions = await connection.fetchval(
                chain_function.CALL,
                ADVISORY_LOCK_KEY,
                GENESIS_HASH,
                *_call_arguments(rows),
            )
        except asyncpg.PostgresError:
            raise  # answered by the server, the call's own transaction rolled back: the connection is in step
        except BaseException:
            self._writer = None  # broken, timed out or cancelled mid-call: never reuse it
            connection.terminate()
            raise
        return list(positions)

    async def _writer_connection(self) -> asyncpg.Connection:
        if self._writer is None or self._writer.is_closed():
            self._writer = await asyncpg.connect(
                "postgresql://" + self._url.split("://", 1)[1],
                timeout=self.connect_timeout,
                command_timeout=self.timeout,
            )
        return self._writer

    async def _append(self, records: Sequence[AuditRecord], skip_recorded: bool) -> list[int]:
        async with self.engine.begin() as connection:
            if self._postgres:
                await connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            if skip_recorded:
                records = await self._unrecorded(connection, records)
                if not records:
                    return []
            last = (
                await connection.execute(
                    sa.select(audit_records.c.position, audit_records.c.record_hash)
                    .order_by(audit_records.c.position.desc())
                    .limit(1)
                )
            ).first()
            rows = _chained_rows(records, last)
            await connection.execute(sa.insert(audit_records), rows.records)
            if rows.entities:
                await connection.exec_driver_sql(
                    AUDIT_KEYS_INSERT,
                    [(key_tokens(keys), position, kind) for position, kind, keys in rows.entities],
                )
            if rows.usage:
                await connection.execute(sa.insert(audit_usage), rows.usage)
        return rows.positions

    async def _unrecorded(self, connection: Any, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        recorded: set[str] = set()
        identifiers = list(dict.fromkeys(record.request_id for record in records))
        for start in range(0, len(identifiers), 1000):
            chunk = identifiers[start : start + 1000]
            rows = await connection.execute(
                sa.select(audit_records.c.request_id).where(audit_records.c.request_id.in_(chunk))
            )
            recorded.update(row.request_id for row in rows)
        return _unique_unrecorded(records, recorded)

    async def scan(self, batch: int = 1000) -> AsyncIterator[StoredRecord]:
        """Every record in chain order."""
        after = 0
        while True:
            async with self.engine.connect() as connection:
                rows = (
                    (
                        await connection.execute(
                            sa.select(audit_records)
                            .where(audit_records.c.position > after)
                            .order_by(audit_records.c.position)
                            .limit(batch)
                        )
                    )
                    .mappings()
                    .all()
                )
            if not rows:
                return
            for row in rows:
                yield _stored(row)
            after = rows[-1]["position"]

    async def verify(self) -> tuple[int, ChainBreak | None]:
        """Walk the chain; the number of records checked and the first broken or missing link."""
        expected_position, previous, checked = 1, GENESIS_HASH, 0
        async for stored in self.scan():
            if stored.position != expected_position:
                return checked, ChainBreak(expected_position, f"record {expected_position} is missing")
            if stored.previous_hash != previous:
                return checked, ChainBreak(
                    stored.position, "does not follow the previous record (deleted or reordered)"
                )
            recomputed = content_hash(stored.record)
            if recomputed != stored.content_hash:
                return checked, ChainBreak(stored.position, "content was changed after it was written")
            if chain_hash(previous, recomputed, stored.position) != stored.record_hash:
                return checked, ChainBreak(stored.position, "chain hash does not match")
            previous, expected_position, checked = stored.record_hash, expected_position + 1, checked + 1
        return checked, None

    async def query(self, where: AuditFilter, first: int, before_position: int | None) -> list[StoredRecord]:
        """Newest first; ``before_position`` continues a page."""
        statement = sa.select(audit_records).order_by(audit_records.c.position.desc()).limit(first)
        if before_position is not None:
            statement = statement.where(audit_records.c.position < before_position)
        for column, value in (
            (audit_records.c.subject, where.subject),
            (audit_records.c.department, where.department),
            (audit_records.c.purpose, where.purpose),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if where.occurred_from is not None:
            statement = statement.where(audit_records.c.occurred_at >= where.occurred_from)
        if where.occurred_to is not None:
            statement = statement.where(audit_records.c.occurred_at < where.occurred_to)
        if where.entity_key is not None:
            statement = statement.where(
                audit_records.c.position.in_(self._positions_reading(None, where.entity_key))
            )
        if where.field is not None:
            statement = statement.where(
                audit_records.c.position.in_(
                    sa.select(audit_usage.c.position).where(audit_usage.c.coordinate == where.field)
                )
            )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [_stored(row) for row in rows]

    async def access_log(
        self, entity_type: str, entity_key: str, limit: int, *, hide_purposes: Sequence[str] = ()
    ) -> list[StoredRecord]:
        """Records that read this entity, newest first, except the entity's own requests and hidden purposes."""
        statement = (
            sa.select(audit_records)
            .where(
                audit_records.c.position.in_(self._positions_reading(entity_type, entity_key)),
                sa.or_(audit_records.c.subject.is_(None), audit_records.c.subject != entity_key),
            )
            .order_by(audit_records.c.position.desc())
            .limit(limit)
        )
        if hide_purposes:
            statement = statement.where(
                sa.or_(audit_records.c.purpose.is_(None), audit_records.c.purpose.not_in(list(hide_purposes)))
            )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [_stored(row) for row in rows]

    def _positions_reading(self, entity_type: str | None, entity_key: str) -> sa.Select[Any]:
        """The positions of records that read this entity (of any type when ``entity_type`` is None)."""
        if self._postgres:
            statement = sa.select(audit_subjects.c.position).where(
                audit_subjects.c.entity_keys.contains([entity_key])
            )
            if entity_type is not None:
                statement = statement.where(audit_subjects.c.entity_type == entity_type)
            return statement
        keys = sa.table(AUDIT_KEYS, sa.column("position"), sa.column("entity_type"))
        statement = sa.select(keys.c.position).where(
            sa.text(f"{AUDIT_KEYS} MATCH :token").bindparams(token=f'"{key_token(entity_key)}"')
        )
        if entity_type is not None:
            statement = statement.where(keys.c.entity_type == entity_type)
        return statement

    async def usage(
        self, occurred_from: str | None, occurred_to: str | None, group_by: Sequence[str]
    ) -> list[dict[str, Any]]:
        dimensions = [USAGE_DIMENSIONS[name].label(name) for name in group_by]
        delivered = sa.case((audit_records.c.delivery.is_not(None), audit_usage.c.position))
        statement = (
            sa.select(
                *dimensions,
                sa.func.count(sa.distinct(audit_usage.c.position)).label("records"),
                sa.func.count().label("fieldsServed"),
                sa.func.coalesce(sa.func.sum(audit_usage.c.entities), 0).label("entitiesServed"),
                sa.func.count(sa.distinct(delivered)).label("deliveries"),
            )
            .select_from(audit_usage.join(audit_records, audit_records.c.position == audit_usage.c.position))
            .where(audit_usage.c.decision.not_in(("deny", "refused")))
        )
        if occurred_from is not None:
            statement = statement.where(audit_usage.c.occurred_at >= occurred_from)
        if occurred_to is not None:
            statement = statement.where(audit_usage.c.occurred_at < occurred_to)
        if dimensions:
            statement = statement.group_by(*dimensions).order_by(*dimensions)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(statement)).mappings().all()]

    async def usage_over_time(
        self, occurred_from: str | None, occurred_to: str | None, period: str
    ) -> list[dict[str, Any]]:
        """Records per ``hour`` or ``day`` (``period``: the leading ``2025-01-31T09`` or ``2025-01-31`` of
        ``occurred_at``, which is ISO 8601 in UTC), oldest first, with how many of them had a field denied.

        Periods without records are absent: the caller knows the range it asked for and fills them in."""
        # Constants from USAGE_PERIODS, never input, and written into the SQL: with bound parameters the
        # SELECT and GROUP BY expressions would differ to PostgreSQL ($1 against $3).
        width = sa.literal_column(str(USAGE_PERIODS[period]))
        bucket = sa.func.substr(audit_usage.c.occurred_at, sa.literal_column("1"), width).label("period")
        denied = sa.case((audit_usage.c.decision == "deny", audit_usage.c.position))
        statement = _within(
            sa.select(
                bucket,
                sa.func.count(sa.distinct(audit_usage.c.position)).label("records"),
                sa.func.count(sa.distinct(denied)).label("denied"),
            ),
            occurred_from,
            occurred_to,
        )
        statement = statement.group_by(bucket).order_by(bucket)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(statement)).mappings().all()]

    async def usage_ranking(
        self, occurred_from: str | None, occurred_to: str | None, dimension: str, limit: int
    ) -> list[dict[str, Any]]:
        """The ``limit`` values of one dimension (``USAGE_DIMENSIONS``) with the most records served, as
        ``usage`` counts them (denials and refusals left out), busiest first."""
        column = USAGE_DIMENSIONS[dimension].label(dimension)
        records = sa.func.count(sa.distinct(audit_usage.c.position)).label("records")
        statement = _within(
            sa.select(column, records, sa.func.count().label("fieldsServed")).where(
                audit_usage.c.decision.not_in(("deny", "refused"))
            ),
            occurred_from,
            occurred_to,
        )
        statement = statement.group_by(column).order_by(records.desc(), column).limit(limit)
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(statement)).mappings().all()]

    async def denials(
        self, occurred_from: str | None, occurred_to: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The ``limit`` most denied (coordinate, roles, consumer department) combinations: ``roles`` is the
        tuple the records hold, ``records`` how many requests were denied there."""
        records = sa.func.count(sa.distinct(audit_usage.c.position)).label("records")
        statement = _within(
            sa.select(audit_usage.c.coordinate, audit_records.c.roles, audit_usage.c.consumer, records)
            .select_from(audit_usage.join(audit_records, audit_records.c.position == audit_usage.c.position))
            .where(audit_usage.c.decision == "deny"),
            occurred_from,
            occurred_to,
        )
        statement = (
            statement.group_by(audit_usage.c.coordinate, audit_records.c.roles, audit_usage.c.consumer)
            .order_by(records.desc(), audit_usage.c.coordinate, audit_records.c.roles)
            .limit(limit)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [{**row, "roles": tuple(orjson.loads(row["roles"]))} for row in rows]

    async def count(self) -> int:
        async with self.engine.connect() as connection:
            return int(
                (await connection.execute(sa.select(sa.func.count()).select_from(audit_records))).scalar()
                or 0
            )


@contextlib.asynccontextmanager
async def _file_lock(url: str) -> AsyncIterator[None]:
    """An exclusive lock on a file beside the SQLite database (none for an in-memory one)."""
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if ":memory:" in url or path.startswith("file:") or not path:
        yield
        return
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _sqlstate(error: BaseException) -> str | None:
    """PostgreSQL's error code, through SQLAlchemy's wrapper of asyncpg's error."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) or getattr(error, "sqlstate", None)


def _cannot_create(name: str, reason: str) -> str:
    return (
        f'database "{name}" does not exist and could not be created ({reason}); '
        f'create it with: CREATE DATABASE "{name}";'
    )


def write_ahead_log(store: str) -> Callable[[Any, Any], None]:
    """A connect listener for a SQLite store: WAL, one fsync per commit, readers never block the writer;
    synchronous=FULL keeps every commit durable. ``store`` names it in the warning of a read-only file."""

    def on_connect(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        except Exception as error:  # the driver's own error class; a read-only store lands here
            logger.warning("%s stays in its journal mode: %s", store, describe(error))
        finally:
            cursor.close()

    return on_connect


def _record_row(
    position: int, record: AuditRecord, record_content_hash: str, previous: str, record_hash: str
) -> dict[str, Any]:
    return {
        "position": position,
        "request_id": record.request_id,
        "occurred_at": record.occurred_at,
        "subject": record.subject,
        "department": record.department,
        "roles": orjson.dumps(list(record.roles)).decode(),
        "purpose": record.purpose,
        "operation_name": record.operation_name,
        "document_hash": record.document_hash,
        "client_address": record.client_address,
        "entities": orjson.dumps([entity_dict(entity) for entity in record.entities]).decode(),
        "fields": orjson.dumps([field_dict(item) for item in record.fields]).decode(),
        "content_hash": record_content_hash,
        "previous_hash": previous,
        "record_hash": record_hash,
        "delivery": record.delivery,
    }


@dataclass(frozen=True, slots=True)
class _ChainedRows:
    records: list[dict[str, Any]]
    entities: list[tuple[int, str, list[str]]]
    """(position, entity type, the keys read) per record and type, each key once."""
    usage: list[dict[str, Any]]
    positions: list[int]


def _chained_rows(records: Sequence[AuditRecord], last: Any, *, chain: bool = True) -> _ChainedRows:
    """The rows that extend the chain after ``last`` (its final position and hash, or None). ``chain=False``:
    numbered from 1 and left unchained, for PostgreSQL's chain function to place and chain."""
    position, previous = (last[0], last[1]) if last else (0, GENESIS_HASH)
    rows = _ChainedRows([], [], [], [])
    for record in records:
        position += 1
        record_content_hash = content_hash(record)
        record_hash = chain_hash(previous, record_content_hash, position) if chain else ""
        rows.records.append(_record_row(position, record, record_content_hash, previous, record_hash))
        rows.entities.extend(_entity_rows(position, record))
        rows.usage.extend(_usage_rows(position, record))
        rows.positions.append(position)
        previous = record_hash
    return rows


def _unique_unrecorded(records: Sequence[AuditRecord], recorded: set[str]) -> list[AuditRecord]:
    """Each request's record once, leaving out those already in the chain."""
    unique: dict[str, AuditRecord] = {}
    for record in records:
        if record.request_id not in recorded:
            unique.setdefault(record.request_id, record)
    return list(unique.values())


def _call_arguments(rows: _ChainedRows) -> list[Any]:
    """The arguments of ``chain_function.CALL`` after the lock key and the genesis hash: one array per record
    argument, the entity index as JSON ``[[ordinal, type, [keys]], ...]`` (PostgreSQL takes it apart faster
    than arrays of ten thousand keys: 5.6 ms against 15), one array per usage column."""
    records = [[row[column] for row in rows.records] for column in chain_function.RECORD_ARGUMENTS]
    usage = [[row[column] for row in rows.usage] for column in chain_function.USAGE_COLUMNS]
    return [*records, orjson.dumps(rows.entities).decode(), *usage]


def _entity_rows(position: int, record: AuditRecord) -> list[tuple[int, str, list[str]]]:
    """(position, type, keys) per entity type read, each key once (several providers read the same ones)."""
    by_type: dict[str, list[tuple[str, ...]]] = {}
    for entity in record.entities:
        by_type.setdefault(entity.type, []).append(entity.keys)
    rows = []
    for entity_type, lists in by_type.items():
        first = lists[0]
        if all(keys is first or keys == first for keys in lists[1:]):
            found = list(dict.fromkeys(first))  # the common case: every provider read the same keys
        else:
            found = list(dict.fromkeys(itertools.chain.from_iterable(lists)))
        if found:
            rows.append((position, entity_type, found))
    return rows


LZ4_COLUMNS: tuple[tuple[str, str], ...] = (
    (audit_records.name, "entities"),
    (audit_records.name, "fields"),
    (audit_subjects.name, "entity_keys"),
)
"""Columns holding a list's thousand keys: compressed with lz4, which PostgreSQL does several times faster
than its default pglz (a 1000-person, four-department record commits in 2 ms instead of 4.3)."""


async def _compress_with_lz4(connection: Any) -> None:
    """Have PostgreSQL compress the key columns with lz4 from now on, where it was built with lz4 (14 and
    later). Rows already written keep their compression; both read alike. Only columns not yet set are
    altered, so a restart takes no lock on the chain's tables. A server that cannot is left as it is."""
    try:
        rows = await connection.execute(
            sa.text(
                "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relname = ANY(:tables) AND a.attname = ANY(:columns) AND a.attcompression <> 'l'"
            ),
            {
                "tables": sorted({table for table, _ in LZ4_COLUMNS}),
                "columns": sorted({column for _, column in LZ4_COLUMNS}),
            },
        )
        for table, column in sorted({tuple(row) for row in rows.all()} & set(LZ4_COLUMNS)):
            await connection.execute(
                sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")
            )
        await connection.commit()
    except SQLAlchemyError as error:
        await connection.rollback()
        logger.info("audit store: key columns keep PostgreSQL's default compression: %s", describe(error))


async def _has_column(connection: Any, table: str, column: str) -> bool:
    columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns(table))
    return any(found["name"] == column for found in columns)


async def _entities_to_subjects(connection: Any) -> None:
    """Schema 1 to 2 on PostgreSQL: the per-key index rows become one array row per record and type."""
    exists = (
        await connection.execute(sa.text("SELECT to_regclass(:name)"), {"name": audit_entities.name})
    ).scalar()
    if exists is None:
        return
    await connection.execute(
        sa.text(
            f"INSERT INTO {audit_subjects.name} (position, entity_type, entity_keys) "
            f"SELECT position, entity_type, array_agg(DISTINCT entity_key) FROM {audit_entities.name} "
            "GROUP BY position, entity_type"
        )
    )
    await connection.execute(sa.text(f"DROP TABLE {audit_entities.name}"))
    logger.warning("audit store: entity index moved to %s (schema 2)", audit_subjects.name)


async def _entities_to_keys(connection: Any) -> None:
    """SQLite's index rows of a store from before ``audit_keys`` moved into it, a row per record and type."""
    found = await connection.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": audit_entities.name},
    )
    if found.first() is None:
        return
    rows = await connection.execute(
        sa.select(
            audit_entities.c.position, audit_entities.c.entity_type, audit_entities.c.entity_key
        ).order_by(audit_entities.c.position, audit_entities.c.entity_type, sa.literal_column("rowid"))
    )
    grouped: dict[tuple[int, str], dict[str, None]] = {}
    for position, entity_type, key in rows:
        grouped.setdefault((position, entity_type), {})[key] = None
    if grouped:
        await connection.exec_driver_sql(
            AUDIT_KEYS_INSERT,
            [(key_tokens(keys), position, entity_type) for (position, entity_type), keys in grouped.items()],
        )
    await connection.execute(sa.text(f"DROP TABLE {audit_entities.name}"))
    logger.warning("audit store: entity index moved to %s (%d records)", AUDIT_KEYS, len(grouped))


def _usage_rows(position: int, record: AuditRecord) -> list[dict[str, Any]]:
    touched: dict[tuple[str, str], int] = {}
    served: dict[str, str] = {}
    for entity in record.entities:
        touched[(entity.type, entity.department)] = touched.get((entity.type, entity.department), 0) + len(
            entity.keys
        )
        if served.get(entity.department) != "live":
            served[entity.department] = entity.served_from
    return [
        {
            "position": position,
            "occurred_at": record.occurred_at,
            "provider": item.department,
            "consumer": record.department,
            "coordinate": item.coordinate,
            "purpose": record.purpose,
            "decision": item.decision,
            "served_from": served.get(item.department, "live"),
            "entities": touched.get((item.coordinate.partition(".")[0], item.department), 0),
        }
        for item in record.fields
    ]


def _stored(row: Any) -> StoredRecord:
    record = AuditRecord(
        request_id=row["request_id"],
        occurred_at=row["occurred_at"],
        subject=row["subject"],
        department=row["department"],
        roles=tuple(orjson.loads(row["roles"])),
        purpose=row["purpose"],
        operation_name=row["operation_name"],
        document_hash=row["document_hash"],
        client_address=row["client_address"],
        entities=tuple(entity_from_dict(entity) for entity in orjson.loads(row["entities"])),
        fields=tuple(FieldDecision(**item) for item in orjson.loads(row["fields"])),
        delivery=row.get("delivery"),
    )
    return StoredRecord(
        row["position"], record, row["content_hash"], row["previous_hash"], row["record_hash"]
    )
