"""A durable subscription: a subscriber's standing request to be called back on changes.

It holds who subscribed (subject, department, roles), for what purpose, the
subscription document, and where to deliver: never a token. The payload of
each delivery is resolved at delivery time, as that principal, through the
same authorization and audit as a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["active", "paused"]


@dataclass(frozen=True, slots=True)
class Registration:
    id: str
    """``sub_`` and 24 hex digits."""
    subject: str | None
    department: str | None
    roles: tuple[str, ...]
    purpose: str
    entity: str
    """``Person``, ``Enterprise`` or ``Property``."""
    fields: tuple[str, ...]
    """The subscribable fields watched, already narrowed to those the subscriber may see."""
    document: str
    variables: dict[str, Any] = field(default_factory=dict)
    operation_name: str | None = None
    callback_url: str = ""
    secret: str = ""
    """Standard Webhooks secret, ``whsec_`` and base64; shown once, at registration."""
    state: State = "active"
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One change owed to one registration, as the outbox holds it: no value, only what changed."""

    id: int
    registration_id: str
    event_id: str
    """The idempotency key, the same on every attempt: ``evt_`` + registration + department + change id."""
    department: str
    change_id: int
    entity: str
    key: str
    changed_fields: tuple[str, ...]
    changed_at: str
    attempts: int = 0
