"""One access line a request, on the ``govgraph.access`` logger, as structured fields.

The line says who asked (subject, department, roles, purpose), what (the operation's name, the path
without its query string), what it touched (provider departments) and how it ended (status, outcome,
duration). It never carries a document, variables, a token, a key or a value: a GET request's query
string holds the document and its variables, so only the path is kept.

Outermost of the middleware, so a request refused before GraphQL (too large, bad token, rate limit,
queue full) has its line too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govgraph.auth.middleware import request_id_of
from govgraph.http.observation import OBSERVATION

logger = logging.getLogger("govgraph.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with copies of the scope made further in
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            fields = access_fields(scope, status, time.perf_counter() - started)
            logger.info("%s %s %d", scope["method"], scope["path"], status, extra={"fields": fields})


def access_fields(scope: Scope, status: int, seconds: float) -> dict[str, Any]:
    state = scope["state"]
    principal = state.get("principal")
    context = state.get("govgraph")
    fields: dict[str, Any] = {
        "request_id": request_id_of(scope),
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "subject": getattr(principal, "subject", None),
        "department": getattr(principal, "department", None),
        "roles": list(getattr(principal, "roles", ())),
        "purpose": getattr(principal, "purpose", None),
        "operation": getattr(context, "operation_name", None),
        "departments": _departments(context),
        "outcome": _outcome(state, status),
    }
    return fields


def _departments(context: Any) -> list[str]:
    if context is None:
        return []
    touched = {department for _, department in context.touched}
    return sorted(touched | set(context.served_from))


def _outcome(state: dict[str, Any], status: int) -> str:
    """As ``govgraph_requests_total`` counts it: the endpoint's word for a GraphQL request it answered,
    else the status's."""
    observation = state.get(OBSERVATION)
    if observation is not None and observation.outcome is not None:
        return str(observation.outcome)
    return "error" if status >= 500 else "rejected" if status >= 400 else "ok"
