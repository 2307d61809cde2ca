"""An audit record and its place in the hash chain.

Pure functions: canonical content, content hash, chain hash. A record holds
who asked, for what purpose, which entities (type, key, provider) and which
field coordinates with what decision; never a field value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class EntityAccess:
    """The records of one entity type a request read from one provider: their keys, and how they were served."""

    type: str
    department: str
    keys: tuple[str, ...]
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
    entities: tuple[EntityAccess, ...] = field(default_factory=tuple)
    fields: tuple[FieldDecision, ...] = field(default_factory=tuple)
    delivery: str | None = None
    """The subscription this record delivered a change to (``sub_...``); ``None`` for a query."""

    @property
    def sensitive(self) -> bool:
        """Whether it released conditional or sensitive data, so the release must wait for it."""
        return any(
            item.decision not in ("deny", "refused") and item.classification in ("conditional", "sensitive")
            for item in self.fields
        )


def canonical_content(record: AuditRecord) -> bytes:
    """The bytes the chain hashes: every field, sorted keys, no whitespace."""
    data = {
        "request_id": record.request_id,
        "occurred_at": record.occurred_at,
        "subject": record.subject,
        "department": record.department,
        "roles": list(record.roles),
        "purpose": record.purpose,
        "operation_name": record.operation_name,
        "document_hash": record.document_hash,
        "client_address": record.client_address,
        "entities": [entity_dict(entity) for entity in record.entities],
        "fields": [field_dict(item) for item in record.fields],
    }
    if record.delivery is not None:
        # Only when set: the records written before deliveries existed keep their hashes.
        data["delivery"] = record.delivery
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def entity_dict(entity: EntityAccess) -> dict[str, object]:
    return {
        "type": entity.type,
        "department": entity.department,
        "keys": list(entity.keys),
        "served_from": entity.served_from,
    }


def entity_from_dict(data: dict[str, object]) -> EntityAccess:
    return EntityAccess(
        type=str(data["type"]),
        department=str(data["department"]),
        keys=tuple(data["keys"]),  # type: ignore[arg-type]
        served_from=str(data["served_from"]),
    )


def field_dict(item: FieldDecision) -> dict[str, str]:
    return {
        "coordinate": item.coordinate,
        "department": item.department,
        "classification": item.classification,
        "decision": item.decision,
    }


def content_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical_content(record)).hexdigest()


def chain_hash(previous_hash: str, record_content_hash: str, position: int) -> str:
    """Binds a record to its predecessor and its position, so deletions and reorders show."""
    return hashlib.sha256(f"{position}:{previous_hash}:{record_content_hash}".encode()).hexdigest()


def document_hash(document: str | None, variables: dict[str, Any] | None) -> str:
    """Whatever a client sent: integers of any size, lone surrogates and odd values hash without failing."""
    payload = json.dumps(
        {"document": document or "", "variables": variables or {}},
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
        default=repr,
    )
    return hashlib.sha256(payload.encode("ascii")).hexdigest()
