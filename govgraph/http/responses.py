"""JSON error responses for requests refused before GraphQL runs, with the request id."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.types import Scope, Send

from govgraph.auth.middleware import request_id_of

GRAPHQL_RESPONSE = "application/graphql-response+json"


def accepts_graphql_response(headers: Mapping[str, str]) -> bool:
    return GRAPHQL_RESPONSE in headers.get("accept", "")


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    media_type: str = "application/json",
) -> None:
    body = orjson.dumps(
        {
            "errors": [{"message": message, "extensions": {"code": code}}],
            "extensions": {"requestId": request_id_of(scope)},
        }
    )
    raw_headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id_of(scope).encode()),
    ]
    raw_headers.extend((name.lower().encode(), value.encode()) for name, value in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
