"""Durable webhook subscriptions, for departments' back-end systems: ``/subscriptions``.

- ``POST /subscriptions`` with ``{"query": "subscription { changes(...) {...} }", "variables": {...},
  "callbackUrl": "https://..."}`` registers one, for a principal whose role has ``subscribe: true``.
  The answer (201) holds its id and, once only, the signing secret.
- ``GET /subscriptions`` lists the caller's department's registrations (never their secrets).
- ``DELETE /subscriptions/{id}`` removes one of them.

The document is decided as a WebSocket subscription is, now and again at
every delivery, under the policy of the day.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.errors import AuditStoreError, Forbidden, GovgraphError
from govgraph.events.registration import Registration
from govgraph.events.signing import new_secret
from govgraph.events.subscription import SubscriptionRefused

MAX_CALLBACK_URL = 2000


async def subscriptions_endpoint(request: Request) -> Response:
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is None:
        if getattr(request.app.state, "hub", None) is not None:
            return _refuse(
                503, "subscriptions are starting: govgraph's store is not reachable yet", "UNAVAILABLE"
            )
        return _refuse(503, "subscriptions are not enabled on this server", "UNAVAILABLE")
    principal: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    if not principal.authenticated or principal.department is None:
        return _refuse(
            401, "a department's token is needed: Authorization: Bearer <token>", "UNAUTHENTICATED"
        )
    try:
        return await _answer(request, outbox, principal)
    except AuditStoreError:
        return _refuse(503, "govgraph's store cannot be reached; try again shortly", "UNAVAILABLE")


async def _answer(request: Request, outbox: Any, principal: Principal) -> Response:
    if request.method == "GET":
        registrations = [
            registration
            for registration in await outbox.registrations()
            if registration.department == principal.department
        ]
        return JSONResponse({"subscriptions": [_public(registration) for registration in registrations]})
    if request.method == "DELETE":
        return await _remove(request, outbox, principal)
    return await _register(request, outbox, principal)


async def _register(request: Request, outbox: Any, principal: Principal) -> Response:
    authorizer = request.app.state.authorizer
    if authorizer is not None and not any(role.subscribe for role in authorizer.effective_roles(principal)):
        return _refuse(
            403, "registering a webhook needs a role with subscribe: true in the policy", "FORBIDDEN"
        )
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return _refuse(400, "send the registration as JSON: Content-Type: application/json")
    body = await request.body()
    if len(body) > request.app.state.settings.max_body_bytes:
        return _refuse(413, "the request body is too large", "PAYLOAD_TOO_LARGE")
    try:
        parameters = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _refuse(400, "the body is not JSON")
    if not isinstance(parameters, dict):
        return _refuse(400, "the body must be a JSON object with query, variables and callbackUrl")
    problem = callback_problem(parameters.get("callbackUrl"))
    if problem is not None:
        return _refuse(400, problem)
    try:
        subscription = request.app.state.parse_subscription(
            principal, parameters.get("query"), parameters.get("variables"), parameters.get("operationName")
        )
    except SubscriptionRefused as refused:
        return JSONResponse({"errors": refused.errors}, status_code=400)
    except Forbidden as error:
        return JSONResponse({"errors": [_error(error)]}, status_code=403)
    except GovgraphError as error:
        return JSONResponse({"errors": [_error(error)]}, status_code=400)
    registration = Registration(
        id=f"sub_{secrets.token_hex(12)}",
        subject=principal.subject,
        department=principal.department,
        roles=principal.roles,
        purpose=subscription.principal.purpose or "",
        entity=subscription.entity,
        fields=subscription.fields,
        document=parameters["query"],
        variables=parameters.get("variables") or {},
        operation_name=parameters.get("operationName"),
        callback_url=parameters["callbackUrl"],
        secret=new_secret(),
        state="active",
        created_at=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    await outbox.register(registration)
    return JSONResponse({**_public(registration), "secret": registration.secret}, status_code=201)


async def _remove(request: Request, outbox: Any, principal: Principal) -> Response:
    identifier = request.path_params.get("identifier", "")
    registration = await outbox.get(identifier)
    if registration is None or registration.department != principal.department:
        return _refuse(
            404, f"no subscription {identifier[:40]} of department {principal.department}", "NOT_FOUND"
        )
    await outbox.remove(identifier)
    return Response(status_code=204)


def callback_problem(url: Any) -> str | None:
    """Why a callback URL cannot be used, or ``None``."""
    if not isinstance(url, str) or not url:
        return "callbackUrl is required: the http(s) URL deliveries are POSTed to"
    if len(url) > MAX_CALLBACK_URL:
        return f"callbackUrl is longer than {MAX_CALLBACK_URL} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "callbackUrl must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "callbackUrl must not carry credentials: deliveries are signed instead"
    if parts.fragment:
        return "callbackUrl must not have a #fragment"
    return None


def _public(registration: Registration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "state": registration.state,
        "entity": registration.entity,
        "fields": list(registration.fields),
        "purpose": registration.purpose,
        "department": registration.department,
        "callbackUrl": registration.callback_url,
        "createdAt": registration.created_at,
    }


def _error(error: GovgraphError) -> dict[str, Any]:
    return {"message": error.message, "extensions": error.extensions()}


def _refuse(status: int, message: str, code: str = "BAD_USER_INPUT") -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)
