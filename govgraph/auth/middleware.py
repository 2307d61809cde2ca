"""Authentication as plain ASGI middleware, in front of /graphql.

A request without ``Authorization`` is anonymous. A bearer token that fails
any check gets HTTP 401 with ``UNAUTHENTICATED`` and the reason, and never
reaches GraphQL. The principal is left in ``scope["state"]``.
"""

from __future__ import annotations

import uuid

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.auth.principal import ANONYMOUS
from govgraph.auth.tokens import TokenVerifier
from govgraph.errors import Unauthenticated

MAX_PURPOSE_LENGTH = 64


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = uuid.uuid4().hex
    return state["request_id"]


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        try:
            purpose = _purpose(headers.get("x-purpose"))
            authorization = headers.get("authorization")
            if authorization is None:
                state["principal"] = ANONYMOUS
            else:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthenticated("expected 'Authorization: Bearer <token>'")
                state["principal"] = await self.verifier.verify_async(token.strip(), header_purpose=purpose)
        except Unauthenticated as error:
            await _unauthenticated(scope, send, error)
            return
        await self.app(scope, receive, send)


def _purpose(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_PURPOSE_LENGTH or not all(char.isalnum() or char in "-_." for char in value):
        raise Unauthenticated("X-Purpose must be a purpose name such as housing-subsidy")
    return value


async def _unauthenticated(scope: Scope, send: Send, error: Unauthenticated) -> None:
    body = orjson.dumps(
        {
            "data": None,
            "errors": [{"message": error.message, "extensions": {"code": error.code}}],
            "extensions": {"requestId": request_id_of(scope)},
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer error="invalid_token"'),
                (b"x-request-id", request_id_of(scope).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
