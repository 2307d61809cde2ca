"""``RouterSignatureMiddleware``: behind a router, only the router may claim a principal.

A forwarded token proves who the caller is, but anyone who reaches
govgraph's port directly, bypassing the router, may present a token too
(one they found, or their own with another purpose). With
``GOVGRAPH_ROUTER_SIGNATURE_KEY`` set, every GraphQL request must carry an
HTTP message signature (RFC 9421) made with that shared key
(``hmac-sha256``) under ``GOVGRAPH_ROUTER_SIGNATURE_KEY_ID``, created within
``GOVGRAPH_ROUTER_SIGNATURE_MAX_AGE`` seconds, covering the method, the
path, the query string if any, the body through ``Content-Digest`` (RFC
9530) if any, and each of ``Authorization``, ``X-Purpose`` and
``Cache-Control`` that the request carries. Anything else is ``401`` with
``ROUTER_SIGNATURE_INVALID``, before the token is even read.
"""

from __future__ import annotations

import datetime
import logging

import httpx
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.http.body import read_body, replay
from govgraph.http.responses import send_error

logger = logging.getLogger("govgraph.http")

SIGNED_HEADERS = ("authorization", "x-purpose", "cache-control")
"""Headers that change who asks or what they get: covered whenever present."""


class _SharedKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, key: bytes) -> None:
        self.key_id = key_id
        self.key = key

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return self.key if key_id == self.key_id else None

    def resolve_private_key(self, key_id: str) -> bytes:
        raise HTTPMessageSignaturesException("govgraph verifies signatures; it does not make them")


class RouterSignatureMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        key: bytes,
        key_id: str = "router",
        max_age: float = 300.0,
        max_body_bytes: int = 256 * 1024,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_age = datetime.timedelta(seconds=max_age)
        self.verifier = HTTPMessageVerifier(
            signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_SharedKey(key_id, key)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.max_body_bytes)
        problem = "the body is too large" if body is None else self._problem(scope, body)
        if body is None or problem is not None:
            logger.warning("refused a request without a valid router signature: %s", problem)
            await send_error(
                scope,
                send,
                401,
                "ROUTER_SIGNATURE_INVALID",
                f"this endpoint takes requests signed by the router only: {problem}",
            )
            return
        await self.app(scope, replay(body), send)

    def _problem(self, scope: Scope, body: bytes) -> str | None:
        headers = Headers(scope=scope)
        if "signature" not in headers or "signature-input" not in headers:
            return "the request carries no Signature and Signature-Input (RFC 9421)"
        query = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host", "govgraph")
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}" + (f"?{query}" if query else "")
        message = httpx.Request(scope["method"], url, headers=headers.raw, content=body)
        required = ["@method", "@path"]
        if query:
            required.append("@query")
        if body:
            required.append("content-digest")
        required += [name for name in SIGNED_HEADERS if name in headers]
        try:
            self.verifier.verify(
                message, max_age=self.max_age, require_components=required, body=body or None
            )
        except HTTPMessageSignaturesException as error:
            return f"the signature does not hold ({_reason(error)}); it must cover {', '.join(required)}"
        return None


def _reason(error: Exception) -> str:
    """The library's own words, which name components and digests, never header values."""
    return str(error).split("\n")[0][:200] or type(error).__name__
