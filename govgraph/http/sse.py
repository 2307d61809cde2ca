"""Subscriptions as Server-Sent Events: the GraphQL over SSE protocol, "distinct connections" mode.

https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md. One
request, one subscription: ``POST /graphql/stream`` with a JSON body
(``query``, ``variables``, ``operationName``) or ``GET`` with the same as
query parameters, and ``Accept: text/event-stream``. Each event is
``event: next`` with the GraphQL response as ``data``; the stream ends
with ``event: complete``. A subscription that cannot be made is answered
at once, as JSON, with the reason (400, or 403 when it is forbidden).
The principal is the request's own, as authentication left it; when its
token expires, the stream sends one last ``next`` with an
``UNAUTHENTICATED`` error and completes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from govgraph.auth.principal import ANONYMOUS
from govgraph.errors import Forbidden, GovgraphError
from govgraph.events.subscription import SubscriptionRefused

EVENT_STREAM = "text/event-stream"
KEEP_ALIVE = 12.0
"""Seconds between comments on a quiet stream, under the idle timeouts of common proxies."""
EXPIRED = "the token has expired: subscribe again with a fresh one"


async def graphql_stream(request: Request) -> Response:
    hub = getattr(request.app.state, "hub", None)
    if hub is None:
        return _refuse(503, [_message("subscriptions are not enabled on this server", "UNAVAILABLE")])
    if EVENT_STREAM not in request.headers.get("accept", ""):
        return _refuse(406, [_message(f"ask for the event stream: Accept: {EVENT_STREAM}")])
    try:
        parameters = await _parameters(request)
    except ValueError as error:
        return _refuse(400, [_message(str(error))])
    principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    try:
        subscription = request.app.state.parse_subscription(
            principal, parameters.get("query"), parameters.get("variables"), parameters.get("operationName")
        )
    except SubscriptionRefused as refused:
        return _refuse(400, refused.errors)
    except Forbidden as error:
        return _refuse(403, [{"message": error.message, "extensions": error.extensions()}])
    except GovgraphError as error:
        return _refuse(400, [{"message": error.message, "extensions": error.extensions()}])
    return StreamingResponse(
        _events(hub, subscription, principal.expires_at),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(hub: Any, subscription: Any, expires_at: float | None) -> AsyncIterator[bytes]:
    stream = hub.stream(subscription).__aiter__()
    yield b": subscribed\n\n"
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            left = None if expires_at is None else expires_at - time.time()
            if left is not None and left <= 0:
                yield _event("next", {"errors": [_message(EXPIRED, "UNAUTHENTICATED")]})
                break
            if pending is None:
                pending = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait(
                {pending}, timeout=KEEP_ALIVE if left is None else min(KEEP_ALIVE, left)
            )
            if not done:
                if left is None or left > KEEP_ALIVE:
                    yield b":\n\n"
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                break
            except GovgraphError as error:
                event = {"errors": [{"message": error.message, "extensions": error.extensions()}]}
                yield _event("next", event)
                break
            yield _event("next", event)
        yield b"event: complete\ndata:\n\n"
    finally:
        if pending is not None:
            pending.cancel()
            # The generator cannot be closed while the cancelled step still runs.
            await asyncio.gather(pending, return_exceptions=True)
        await stream.aclose()


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _parameters(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        parameters: dict[str, Any] = dict(request.query_params)
        if "variables" in parameters:
            try:
                parameters["variables"] = orjson.loads(parameters["variables"])
            except orjson.JSONDecodeError:
                raise ValueError("variables is not JSON") from None
        return parameters
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise ValueError("send the subscription as JSON: Content-Type: application/json")
    body = await request.body()
    if len(body) > request.app.state.settings.max_body_bytes:
        raise ValueError("the request body is too large")
    try:
        parameters = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(parameters, dict):
        raise ValueError("the body must be a JSON object with query, variables and operationName")
    return parameters


def _refuse(status: int, errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


def _message(text: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    return {"message": text, "extensions": {"code": code}}
