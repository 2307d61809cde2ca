"""An audit record and its place in the hash chain.

Pure functions: canonical content, content hash, chain hash. A record holds
who asked, for what purpose, which entities (type, key, provider) and which
field coordinates with what decision; never a field value.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class EntityTouch:
    type: str
    key: str
    department: str
    served_from: str = "live"


@dataclass(frozen=True, slots=True)
class FieldDecision:
    coordinate: str
    department: str
    classification: str
    decision: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    request_id: str
    occurred_at: str
    """UTC, ISO 8601 with microseconds: ``2026-11-24T15:06:12.123456Z``."""
    subject: str | None
    department: str | None
    roles: tuple[str, ...]
    purpose: str | None
    operation_name: str | None
    document_hash: str
    client_address: str | None
    entities: tuple[EntityTouch, ...] = field(default_factory=tuple)
    fields: tuple[FieldDecision, ...] = field(default_factory=tuple)

    @property
    def sensitive(self) -> bool:
        """Whether it released conditional or sensitive data, so the release must wait for it."""
        return any(
            item.decision != "deny" and item.classification in ("conditional", "sensitive")
            for item in self.fields
        )


def canonical_content(record: AuditRecord) -> bytes:
    """The bytes the chain hashes: every field, sorted keys, no whitespace."""
    data: dict[str, Any] = asdict(record)
    data["roles"] = list(record.roles)
    data["entities"] = [asdict(entity) for entity in record.entities]
    data["fields"] = [asdict(item) for item in record.fields]
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def content_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical_content(record)).hexdigest()


def chain_hash(previous_hash: str, record_content_hash: str, position: int) -> str:
    """Binds a record to its predecessor and its position, so deletions and reorders show."""
    return hashlib.sha256(f"{position}:{previous_hash}:{record_content_hash}".encode()).hexdigest()


def document_hash(document: str | None, variables: dict[str, Any] | None) -> str:
    payload = orjson.dumps(
        {"document": document or "", "variables": variables or {}}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()
