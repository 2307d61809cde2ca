"""``AuditWriter``: every record is durable before its response leaves, cheaply.

- **Group commit.** A request hands its record over and waits. One
  committer task takes every record waiting, appends them in one
  transaction (one extension of the hash chain, one fsync), and wakes their
  requests. Under load, many requests share one commit.
- **A deadline.** A request waits at most ``timeout`` seconds for its
  commit. A store that hangs (a paused connection, a held lock) costs a
  request that long, never more; the stuck attempt is left to finish or
  fail in the background, and the next batch tries again.
- **When the store cannot take a record in time**, ``commit`` raises
  ``AuditUnavailable``: a response carrying conditional or sensitive values
  then withholds them. ``record`` (for responses with nothing protected)
  writes the record to the local, fsync'd journal instead and returns; the
  response is released only after that.
- **The journal is replayed** into the store at start-up and whenever the
  store answers again, by one process at a time, skipping records the
  store already holds (by request id). So no record of a released response
  is lost, even to ``kill -9``, and none is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from pathlib import Path

import govgraph.tracing as tracing
from govgraph.audit.journal import Journal
from govgraph.audit.metrics import AuditMetrics
from govgraph.audit.records import AuditRecord
from govgraph.audit.store import AuditStore
from govgraph.errors import AuditUnavailable

logger = logging.getLogger("govgraph.audit")

Waiting = tuple[AuditRecord, "asyncio.Future[int | None]"]
"""A record and its request's future: set to the size of the group commit that took it."""


class AuditWriter:
    def __init__(
        self,
        store: AuditStore,
        journal: Path,
        *,
        timeout: float = 5.0,
        batch: int = 500,
        replay_interval: float = 5.0,
        max_stuck: int = 4,
        metrics: AuditMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.journal = Journal(journal)
        self.timeout = timeout
        self.batch = batch
        self.replay_interval = replay_interval
        self.max_stuck = max_stuck
        self.commits = 0
        """Transactions committed: fewer than records under load (group commit)."""
        self._waiting: list[Waiting] = []
        self._wake = asyncio.Event()
        self._stuck: set[asyncio.Task[list[int]]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.replay()
        self._tasks = [
            asyncio.create_task(self._commit_forever(), name="govgraph-audit-commits"),
            asyncio.create_task(self._replay_forever(), name="govgraph-audit-journal"),
        ]

    async def commit(self, record: AuditRecord) -> None:
        """Return once the record is committed; ``AuditUnavailable`` if that cannot happen by the deadline."""
        if tracing.tracer is None:
            await self._committed(record)
            return
        from govgraph.tracing.spans import audit_span, end_audit_span

        span = audit_span()
        try:
            records = await self._committed(record)
        except BaseException as error:
            end_audit_span(span, None, "unavailable" if isinstance(error, AuditUnavailable) else "cancelled")
            raise
        end_audit_span(span, records, None)

    async def _committed(self, record: AuditRecord) -> int | None:
        """How many records the transaction that committed this one held."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, future))
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            future.cancel()  # not yet taken into a batch: it never will be
            raise AuditUnavailable() from None

    async def record(self, record: AuditRecord, commit: Awaitable[None] | None = None) -> None:
        """Commit (or wait for ``commit``, one already under way), or else journal: on return the record is
        durable either way."""
        try:
            await (commit or self.commit(record))
        except AuditUnavailable:
            await asyncio.to_thread(self.journal.append, [record])
            logger.warning("audit store unavailable: record of request %s journaled", record.request_id)

    async def close(self) -> None:
        """Commit what is waiting (or journal it); stop the background tasks."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        waiting, self._waiting = self._waiting, []
        pending = [record for record, future in waiting if not future.done()]
        if pending:
            try:
                await asyncio.wait_for(self.store.append(pending), self.timeout)
            except (AuditUnavailable, TimeoutError):
                await asyncio.to_thread(self.journal.append, pending)
                logger.error("audit store unavailable at shutdown; journaled %d records", len(pending))
        for _, future in waiting:
            if not future.done():
                future.set_result(None)
        for task in self._stuck:
            task.cancel()

    async def flush(self) -> None:
        """Commit whatever is waiting now, and replay the journal if the store answers."""
        if self._waiting:
            done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            self._waiting.append((_NOTHING, done))
            self._wake.set()
            with contextlib.suppress(AuditUnavailable):
                await asyncio.wait_for(asyncio.shield(done), self.timeout)
        await self.replay()

    async def replay(self) -> int:
        """Move the journal's records into the store; how many were stored (0 when it cannot answer)."""
        if not self.journal.pending():
            return 0
        stored = 0
        for claimed in await asyncio.to_thread(self.journal.claim):
            try:
                with self.journal.replaying(claimed) as records:
                    if records is None:
                        continue
                    stored += await self._replay(records, claimed)
            except _KeepJournal:
                break
        return stored

    async def _replay(self, records: list[AuditRecord], claimed: Path) -> int:
        try:
            positions = await asyncio.wait_for(
                self.store.append(records, skip_recorded=True), max(self.timeout, 30.0)
            )
        except (AuditUnavailable, TimeoutError):
            logger.error("audit store unavailable; %d journaled records wait in %s", len(records), claimed)
            raise _KeepJournal() from None
        logger.info(
            "replayed %d journaled audit records (%d were already stored)",
            len(positions),
            len(records) - len(positions),
        )
        return len(positions)

    async def _commit_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                taken = self._waiting[: self.batch]
                del self._waiting[: self.batch]
                for marker in [future for record, future in taken if record is _NOTHING]:
                    marker.set_result(None)  # a flush: everything before it is taken
                batch = [
                    (record, future)
                    for record, future in taken
                    if record is not _NOTHING and not future.done()
                ]
                if batch:
                    await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[Waiting]) -> None:
        metrics = self.metrics
        if len(self._stuck) >= self.max_stuck:
            if metrics is not None:
                metrics.failures["stuck"].inc()
            _fail(batch)  # the store hangs: answer at once rather than pile up more stuck attempts
            return
        started = time.perf_counter()
        # Held here until it ends, or in self._stuck if it outlives the deadline.
        attempt = asyncio.create_task(self.store.append([record for record, _ in batch]))  # noqa: RUF006
        done, _ = await asyncio.wait({attempt}, timeout=self.timeout)
        if not done:
            if metrics is not None:
                metrics.failures["timeout"].inc()
            self._stuck.add(attempt)
            attempt.add_done_callback(self._unstuck)
            logger.error(
                "audit store did not answer within %.1fs; %d records not committed", self.timeout, len(batch)
            )
            _fail(batch)
            return
        error = attempt.exception()
        if metrics is not None:
            if error is None:
                metrics.duration.observe(time.perf_counter() - started)
            else:
                metrics.failures["error"].inc()
        if error is not None:
            if not isinstance(error, AuditUnavailable):
                logger.error("audit commit failed unexpectedly", exc_info=error)
            _fail(batch)
            return
        self.commits += 1
        for _, future in batch:
            if not future.done():
                future.set_result(len(batch))

    def _unstuck(self, attempt: asyncio.Task[list[int]]) -> None:
        self._stuck.discard(attempt)
        if not attempt.cancelled() and attempt.exception() is None:
            logger.warning("a late audit commit went through; its requests had already been answered")

    async def _replay_forever(self) -> None:
        while True:
            await asyncio.sleep(self.replay_interval)
            with contextlib.suppress(_KeepJournal):
                await self.replay()


_NOTHING = AuditRecord("", "", None, None, (), None, None, "", None)
"""A marker in the queue: a flush waiting for everything before it to be taken."""


class _KeepJournal(Exception):
    """The store did not take the records: the claimed journal file stays for the next replay."""


def _fail(batch: list[Waiting]) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(AuditUnavailable())
