"""``GraphQLHTTPGuard``: GraphQL over HTTP done strictly, before GraphQL runs.

- Only GET and POST (and CORS preflights); POST bodies must be
  ``application/json`` (415 otherwise) and at most ``max_body_bytes`` (413).
- CSRF prevention as Apollo's ``preventCsrf``: a POST with a "simple"
  content type (text/plain, form-urlencoded, multipart) or a GET operation
  is refused (400) unless a preflight header is present.
- GET runs queries only: a mutation over GET is 405 with ``Allow: POST``.
- Bad JSON of any shape is a ``400`` (``payload.py``).
- Persisted documents: APQ and trusted documents (``persisted.py``).
- Every refusal is a JSON GraphQL error body with the request id; plain-text
  errors from below are turned into the same shape.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govgraph.http.body import read_body, replay
from govgraph.http.payload import BadRequest, parse_body, parse_query_string
from govgraph.http.persisted import PersistedDocuments, Refusal, Resolved
from govgraph.http.responses import GRAPHQL_RESPONSE, accepts_graphql_response, send_error

PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight", "graphql-require-preflight")
SIMPLE_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


class GraphQLHTTPGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str = "/graphql",
        max_body_bytes: int = 256 * 1024,
        csrf_prevention: bool = True,
        persisted: PersistedDocuments | None = None,
    ) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.csrf_prevention = csrf_prevention
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = GRAPHQL_RESPONSE if accepts_graphql_response(headers) else "application/json"
        method = scope["method"]

        async def refuse(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
            await send_error(scope, send, status, code, message, headers=extra, media_type=media_type)

        if method == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if method not in ("GET", "POST"):
            await refuse(
                405, "METHOD_NOT_ALLOWED", "GraphQL is served over GET and POST", {"Allow": "GET, POST"}
            )
            return
        preflighted = any(headers.get(name) for name in PREFLIGHT_HEADERS)
        if method == "GET":
            await self._get(scope, receive, send, headers, preflighted, refuse)
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            if (
                self.csrf_prevention
                and not preflighted
                and (not content_type or content_type in SIMPLE_CONTENT_TYPES)
            ):
                await refuse(400, "CSRF_PREVENTED", _CSRF_MESSAGE)
            else:
                await refuse(415, "UNSUPPORTED_MEDIA_TYPE", "send the operation as application/json")
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await refuse(413, "PAYLOAD_TOO_LARGE", f"the request body is over {self.max_body_bytes} bytes")
            return
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            await refuse(413, "PAYLOAD_TOO_LARGE", f"the request body is over {self.max_body_bytes} bytes")
            return
        body_or_refusal = self._checked_body(scope, body)
        if isinstance(body_or_refusal, Refusal):
            await refuse(body_or_refusal.status, body_or_refusal.code, body_or_refusal.message)
            return
        await self.app(scope, replay(body_or_refusal), _json_errors(scope, send, media_type))

    async def _get(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, preflighted: bool, refuse: Any
    ) -> None:
        raw = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "query" not in raw and "extensions" not in raw:
            await self.app(
                scope,
                receive,
                _json_errors(
                    scope, send, GRAPHQL_RESPONSE if accepts_graphql_response(headers) else "application/json"
                ),
            )
            return
        if self.csrf_prevention and not preflighted:
            await refuse(400, "CSRF_PREVENTED", _CSRF_MESSAGE)
            return
        try:
            parameters = parse_query_string(raw)
        except BadRequest as error:
            await refuse(400, "BAD_REQUEST", error.message)
            return
        if self.persisted is not None:
            resolved = self.persisted.resolve(parameters.get("query"), parameters.get("extensions"))
            if isinstance(resolved, Refusal):
                await refuse(resolved.status, resolved.code, resolved.message)
                return
            _note_candidate(scope, resolved)
            if resolved.document is not None:
                raw["query"] = resolved.document
                scope = {**scope, "query_string": urlencode(raw).encode()}
        operation = _operation_type(raw.get("query", ""), raw.get("operationName"))
        if operation in (OperationType.MUTATION, OperationType.SUBSCRIPTION):
            await refuse(405, "METHOD_NOT_ALLOWED", f"a {operation.value} needs POST", {"Allow": "POST"})
            return
        await self.app(scope, receive, _json_errors(scope, send, "application/json"))

    def _checked_body(self, scope: Scope, body: bytes) -> bytes | Refusal:
        """The body to pass on: a JSON object (or a batch, which the view refuses by itself),
        with a persisted document filled in; anything else is refused here."""
        try:
            payload = parse_body(body)
        except BadRequest as error:
            return Refusal(400, "BAD_REQUEST", error.message)
        if isinstance(payload, list) or self.persisted is None:
            return body
        resolved = self.persisted.resolve(payload.get("query"), payload.get("extensions"))
        if isinstance(resolved, Refusal):
            return resolved
        _note_candidate(scope, resolved)
        if resolved.document is not None:
            payload["query"] = resolved.document
            return json.dumps(payload).encode()
        return body


def _note_candidate(scope: Scope, resolved: Resolved) -> None:
    """An APQ document to store once the request has passed every check (the endpoint does it)."""
    if resolved.candidate is not None:
        scope.setdefault("state", {})["persisted_candidate"] = resolved.candidate


_CSRF_MESSAGE = (
    "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Send it as a POST with "
    "Content-Type: application/json, or add a non-empty GraphQL-Require-Preflight header."
)


def _operation_type(query: str, operation_name: str | None) -> OperationType | None:
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [
        definition for definition in document.definitions if isinstance(definition, OperationDefinitionNode)
    ]
    for operation in operations:
        if operation_name is None or (operation.name is not None and operation.name.value == operation_name):
            return operation.operation
    return None


def _json_errors(scope: Scope, send: Send, media_type: str) -> Send:
    """Turn plain-text error responses from below (strawberry's 400s) into JSON GraphQL errors."""
    held: dict[str, Any] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
            if message["status"] >= 400 and content_type.startswith("text/plain"):
                held["start"] = message
                return
            await send(message)
            return
        if "start" in held and message["type"] == "http.response.body":
            text = message.get("body", b"").decode("utf-8", "replace").strip() or "bad request"
            await send_error(scope, send, held["start"]["status"], "BAD_REQUEST", text, media_type=media_type)
            return
        await send(message)

    return wrapped
