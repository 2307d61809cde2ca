"""Authentication as plain ASGI middleware, in front of /graphql.

A request without ``Authorization`` is anonymous. A bearer token that fails
any check gets HTTP 401 with ``UNAUTHENTICATED`` and the reason, and never
reaches GraphQL. The principal is left in ``scope["state"]``.

The purpose: a token's ``purpose`` claim binds. ``X-Purpose`` may state one
only when the token has none; a header that contradicts the token, or a
purpose the policy does not declare, is ``400 BAD_REQUEST`` (the latter with
the list of known purposes). A ``dept`` claim must name a department the
platform knows. A router that presents ``X-Router-Credential`` matching
``GOVGRAPH_ROUTER_CREDENTIAL`` is noted, so it may read the federation SDL.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Collection

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.auth.tokens import TokenVerifier
from govgraph.errors import BadUserInput, Unauthenticated

MAX_PURPOSE_LENGTH = 64


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = uuid.uuid4().hex
    return state["request_id"]


class AuthenticationMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        purposes: Collection[str] | None = None,
        departments: Collection[str] | None = None,
        router_credential: str | None = None,
    ) -> None:
        """``purposes`` and ``departments``: the known ones (``None``: any)."""
        self.app = app
        self.verifier = verifier
        self.purposes = sorted(purposes) if purposes is not None else None
        self.departments = frozenset(departments) if departments is not None else None
        self.router_credential = router_credential.encode() if router_credential else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # /metrics has a bearer token of its own (GOVGRAPH_METRICS_TOKEN), not a principal's JWT.
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        try:
            principal = await self.principal_for(headers.get("authorization"), headers.get("x-purpose"))
            self._check_router(headers.get("x-router-credential"), state)
            state["principal"] = principal
        except Unauthenticated as error:
            await _refuse(scope, send, 401, error.message, error.code)
            return
        except BadUserInput as error:
            await _refuse(scope, send, 400, error.message, "BAD_REQUEST")
            return
        await self.app(scope, receive, send)

    async def principal_for(self, authorization: str | None, purpose: str | None) -> Principal:
        """The principal of an ``Authorization`` value and a stated purpose: ``Unauthenticated`` or
        ``BadUserInput`` when they do not hold. WebSocket connections authenticate through it too."""
        header_purpose = self._header_purpose(purpose)
        return self._with_purpose(await self._principal(authorization), header_purpose)

    async def _principal(self, authorization: str | None) -> Principal:
        if authorization is None:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected 'Authorization: Bearer <token>'")
        principal = await self.verifier.verify_async(token.strip())
        if (
            principal.department is not None
            and self.departments is not None
            and principal.department not in self.departments
        ):
            raise Unauthenticated("claim dept names no department known to this platform")
        return principal

    def _header_purpose(self, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if len(value) > MAX_PURPOSE_LENGTH or not all(char.isalnum() or char in "-_." for char in value):
            raise BadUserInput("X-Purpose must be a purpose name such as housing-subsidy")
        return value

    def _with_purpose(self, principal: Principal, header_purpose: str | None) -> Principal:
        if header_purpose is not None:
            if principal.purpose is not None and principal.purpose != header_purpose:
                raise BadUserInput(
                    f"X-Purpose {header_purpose} contradicts the token, which binds purpose {principal.purpose}"
                )
            principal = principal.with_purpose(header_purpose)
        if (
            principal.purpose is not None
            and self.purposes is not None
            and principal.purpose not in self.purposes
        ):
            known = ", ".join(self.purposes)
            raise BadUserInput(
                f"unknown purpose {principal.purpose[:MAX_PURPOSE_LENGTH]}; known purposes: {known}"
            )
        return principal

    def _check_router(self, presented: str | None, state: dict[str, object]) -> None:
        if presented is None:
            return
        if self.router_credential is None or not hmac.compare_digest(
            presented.encode(), self.router_credential
        ):
            raise Unauthenticated("the router credential does not match")
        state["router_credential"] = True


async def _refuse(scope: Scope, send: Send, status: int, message: str, code: str) -> None:
    body = orjson.dumps(
        {
            "data": None,
            "errors": [{"message": message, "extensions": {"code": code}}],
            "extensions": {"requestId": request_id_of(scope)},
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id_of(scope).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
