"""``AuditWriter``: when a request's record is written, and what happens if it can't be.

- A record that releases conditional or sensitive data is committed before
  the response leaves (``commit``); if that fails, the caller withholds.
- A record of internal data only is queued and written in batches
  (``enqueue``); the queue is flushed on a clean shutdown, and whatever
  still cannot be written is spooled to a local file and replayed at the
  next start, so nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import orjson

from govgraph.audit.records import AuditRecord, FieldDecision, canonical_content, entity_from_dict
from govgraph.audit.store import AuditStore
from govgraph.errors import AuditUnavailable

logger = logging.getLogger("govgraph.audit")


class AuditWriter:
    def __init__(
        self, store: AuditStore, spool: Path, *, flush_interval: float = 0.5, batch: int = 200
    ) -> None:
        self.store = store
        self.spool = spool
        self.flush_interval = flush_interval
        self.batch = batch
        self._pending: list[AuditRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._replay_spool()
        self._task = asyncio.create_task(self._run(), name="govgraph-audit-writer")

    async def commit(self, record: AuditRecord) -> None:
        """Write now; raises ``AuditUnavailable`` when the store can't be written."""
        await self.store.append([record])

    def enqueue(self, record: AuditRecord) -> None:
        self._pending.append(record)

    async def flush(self) -> None:
        async with self._flush_lock:
            while self._pending:
                batch = self._pending[: self.batch]
                await self.store.append(batch)
                del self._pending[: len(batch)]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except AuditUnavailable:
            self._write_spool()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except AuditUnavailable:
                logger.error("audit store unavailable; %d queued records wait", len(self._pending))

    def _write_spool(self) -> None:
        if not self._pending:
            return
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with self.spool.open("ab") as spool:
            for record in self._pending:
                spool.write(canonical_content(record) + b"\n")
        logger.error(
            "audit store unavailable at shutdown; spooled %d records to %s", len(self._pending), self.spool
        )
        self._pending.clear()

    async def _replay_spool(self) -> None:
        if not self.spool.exists():
            return
        records = [_from_canonical(line) for line in self.spool.read_bytes().splitlines() if line.strip()]
        try:
            await self.store.append(records)
        except AuditUnavailable:
            logger.error("audit store unavailable; %d spooled records stay in %s", len(records), self.spool)
            return
        self.spool.unlink()
        logger.info("replayed %d spooled audit records", len(records))


def _from_canonical(line: bytes) -> AuditRecord:
    data = orjson.loads(line)
    data["roles"] = tuple(data["roles"])
    data["entities"] = tuple(entity_from_dict(entity) for entity in data["entities"])
    data["fields"] = tuple(FieldDecision(**item) for item in data["fields"])
    return AuditRecord(**data)
