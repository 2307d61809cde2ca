"""``ObservationMiddleware``: each GraphQL request counted, timed and (while tracing is on) spanned.

Outermost, so that requests refused by the guard, authentication, rate
limits or admission count too, as ``rejected`` of operation ``unknown``. The
endpoint notes what only it knows (the operation, the outcome, the denied
coordinates) on an ``Observation`` in the request's state (``note_result``).

Outcomes: ``ok`` (data, no errors), ``partial`` (data and errors), ``error``
(ran, but no data), ``rejected`` (refused before it ran: a document that did
not parse or validate, a limit, or a refusal by a middleware).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

import govgraph.tracing as tracing
from govgraph.metrics.requests import RequestMetrics

OBSERVATION = "observation"


@dataclass(slots=True)
class Observation:
    operation_type: str | None = None
    """``query``, ``mutation``: known once the document parsed and validated."""
    operation_name: str | None = None
    outcome: str | None = None
    error_code: str | None = None
    """The first error's ``extensions.code``, for the span."""
    denied: frozenset[str] = frozenset()
    principal: Any = None


class ObservationMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, path: str = "/graphql") -> None:
        self.app = app
        self.metrics = metrics
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        observation = Observation()
        scope.setdefault("state", {})[OBSERVATION] = observation
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span = None
        if tracing.tracer is not None:
            from govgraph.tracing.spans import RequestSpan

            span = RequestSpan(scope)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        except Exception:
            observation.outcome = "error"
            raise
        finally:
            self._record(observation, status, time.perf_counter() - started)
            if span is not None:
                span.finish(
                    status=status,
                    operation_type=observation.operation_type,
                    operation_name=observation.operation_name,
                    outcome=observation.outcome,
                    error_code=observation.error_code,
                )

    def _record(self, observation: Observation, status: int, seconds: float) -> None:
        outcome = observation.outcome
        if outcome is None:
            if status < 400:
                return  # not an operation: GraphiQL's page, a preflight, a cancelled request
            outcome = observation.outcome = "rejected"
        metrics = self.metrics
        metrics.observe(
            metrics.operation_label(observation.operation_type, observation.operation_name), outcome, seconds
        )
        if observation.denied:
            metrics.denied(observation.principal, observation.denied)


def note_result(scope: Scope, context: Any, response: dict[str, Any]) -> None:
    """What the endpoint knows of a request's operation, from its context and its final response."""
    observation: Observation | None = scope.get("state", {}).get(OBSERVATION)
    if observation is None:
        return
    errors = response.get("errors")
    accepted = False
    if context is not None:
        observation.operation_type = context.operation_type
        observation.operation_name = context.operation_name
        observation.principal = context.principal
        accepted = context.accepted
    if not errors:
        observation.outcome = "ok"
        return
    if not accepted:
        observation.outcome = "rejected"
    else:
        observation.outcome = "error" if response.get("data") is None else "partial"
    codes = [(error.get("extensions") or {}) for error in errors]
    observation.error_code = str(codes[0].get("code")) if codes and codes[0].get("code") else None
    observation.denied = frozenset(
        str(extensions["coordinate"])
        for extensions in codes
        if extensions.get("code") == "FORBIDDEN" and extensions.get("coordinate")
    )
