"""``Journal``: the local, fsync'd file that holds audit records the store could not take in time.

A record goes here, before its response is released, when the store is
down or does not answer by the audit deadline: once ``append`` returns, the
record survives ``kill -9`` and a power cut. Several server processes may
share one journal; ``flock`` keeps their appends whole.

Replaying claims the journal first: under its lock, the file is renamed to
``<journal>.<id>.replaying`` and the lock kept while its records go to the
store (which skips any it already holds, by request id); the claimed file
is deleted once they are committed. A process that dies mid-way leaves the
claimed file, unlocked, for the next replay by any process. An append that
waited on a claimed file's lock notices the file is no longer the journal
and writes to the new one, so nothing is written where nobody will read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from govgraph.audit.records import AuditRecord, FieldDecision, canonical_content, entity_from_dict

CLAIMED = ".replaying"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, records: list[AuditRecord]) -> None:
        """Durable on return: written and fsync'd. Blocking: call it off the event loop."""
        if not records:
            return
        payload = b"".join(canonical_content(record) + b"\n" for record in records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                if not self._is_current(descriptor):
                    continue  # claimed for replay while we waited: write to the new journal
                os.write(descriptor, payload)
                os.fsync(descriptor)
                return
            finally:
                os.close(descriptor)

    def pending(self) -> bool:
        if any(self._claimed()):
            return True
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def claim(self) -> list[Path]:
        """Rename the journal for replay (if it holds anything); every claimed file waiting to be replayed.
        Blocking: call it off the event loop."""
        if self.path.exists():
            descriptor = os.open(self.path, os.O_RDONLY)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                if self._is_current(descriptor) and os.fstat(descriptor).st_size > 0:
                    os.rename(self.path, self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}{CLAIMED}"))
            finally:
                os.close(descriptor)
        return sorted(self._claimed())

    @contextlib.contextmanager
    def replaying(self, claimed: Path) -> Iterator[list[AuditRecord] | None]:
        """A claimed file's records, locked for this process (``None`` if another holds it or it is gone);
        deleted when the block ends without an error."""
        try:
            descriptor = os.open(claimed, os.O_RDONLY)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            if os.fstat(descriptor).st_nlink == 0:
                yield None
                return
            content = b""
            while chunk := os.read(descriptor, 1 << 20):
                content += chunk
            yield [_from_canonical(line) for line in content.splitlines() if line.strip()]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claimed)
        finally:
            os.close(descriptor)

    def _claimed(self) -> Iterator[Path]:
        if not self.path.parent.exists():
            return iter(())
        return self.path.parent.glob(f"{self.path.name}.*{CLAIMED}")

    def _is_current(self, descriptor: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            return False


def _from_canonical(line: bytes) -> AuditRecord:
    data = orjson.loads(line)
    data["roles"] = tuple(data["roles"])
    data["entities"] = tuple(entity_from_dict(entity) for entity in data["entities"])
    data["fields"] = tuple(FieldDecision(**item) for item in data["fields"])
    return AuditRecord(**data)
