"""Requests by operation and outcome, their latency, and denials by role and field coordinate.

Every label value is bounded: operation names a client chose are kept only
when short and plain, and only the first ``MAX_OPERATIONS`` of them (then
``other``); roles are the policy's; coordinates are the schema's. Never a
subject, a key or a value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

OUTCOMES = ("ok", "partial", "error", "rejected")
UNREAD = "unknown"
"""The operation of a request refused before its document was read (rate limit, body, token, syntax)."""
ANONYMOUS = "anonymous"
OTHER = "other"
MAX_OPERATIONS = 200
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)
_COORDINATE = re.compile(r"[A-Za-z_]\w{0,63}(?:\.[A-Za-z_]\w{0,63}|\([A-Za-z_]\w{0,63}\))", re.ASCII)


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry, roles: Collection[str]) -> None:
        """``roles``: the policy's roles, the only role label values besides ``anonymous``, ``none``, ``other``."""
        self._requests = Counter(
            "govgraph_requests",
            "GraphQL requests by operation name and outcome (ok, partial, error, rejected).",
            ["operation", "outcome"],
            registry=registry,
        )
        self._duration = Histogram(
            "govgraph_request_duration_seconds",
            "Seconds from a GraphQL request's arrival to its response, by operation name.",
            ["operation"],
            registry=registry,
        )
        self._denials = Counter(
            "govgraph_denials",
            "Requests in which a field coordinate was denied, by each role the principal held.",
            ["role", "coordinate"],
            registry=registry,
        )
        self._roles = frozenset(roles)
        self._names: set[str] = set()
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._denial_children: dict[tuple[str, str], Any] = {}

    def operation_label(self, operation_type: str | None, name: str | None) -> str:
        if operation_type is None:
            return UNREAD
        if name is None:
            return ANONYMOUS
        if name in self._names:
            return name
        if len(self._names) >= MAX_OPERATIONS or not _NAME.fullmatch(name):
            return OTHER
        self._names.add(name)
        return name

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        """``operation``: a label from ``operation_label``."""
        labels = (operation, outcome)
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = (
                self._requests.labels(operation, outcome),
                self._duration.labels(operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def denied(self, principal: Any, coordinates: Iterable[str]) -> None:
        roles = self.role_labels(principal)
        for coordinate in coordinates:
            label = coordinate if _COORDINATE.fullmatch(coordinate) else OTHER
            for role in roles:
                child = self._denial_children.get((role, label))
                if child is None:
                    child = self._denial_children[(role, label)] = self._denials.labels(role, label)
                child.inc()

    def role_labels(self, principal: Any) -> tuple[str, ...]:
        if principal is None or not getattr(principal, "authenticated", False):
            return (ANONYMOUS,)
        held = tuple(dict.fromkeys(role if role in self._roles else OTHER for role in principal.roles))
        return held or ("none",)
