"""``govgraph demo receiver``: a webhook receiver that prints each verified delivery once.

What a department's back-end system does with govgraph's webhooks, in
miniature: check the Standard Webhooks signature, answer 204 at once, drop
a ``webhook-id`` already seen (deliveries are at least once), act on it.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any, TextIO

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from govgraph.events.signing import SignatureError, verify

REMEMBERED = 10_000
"""Event ids kept for dropping duplicates."""


def receiver_app(secret: str, out: TextIO = sys.stdout) -> Starlette:
    seen: OrderedDict[str, None] = OrderedDict()

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            verify(secret, request.headers, body)
        except SignatureError as error:
            return JSONResponse({"error": str(error)}, status_code=401)
        event_id = request.headers["webhook-id"]
        if event_id in seen:
            return Response(status_code=204)
        seen[event_id] = None
        if len(seen) > REMEMBERED:
            seen.popitem(last=False)
        print(describe(orjson.loads(body)), file=out, flush=True)
        return Response(status_code=204)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def describe(delivery: dict[str, Any]) -> str:
    """One line: the event, what changed, and the payload as the subscriber may see it."""
    data = delivery.get("data") or {}
    event = next(iter(data.values()), None) if isinstance(data, dict) else None
    if not isinstance(event, dict):
        return f"{delivery.get('event')}: {orjson.dumps(delivery).decode()}"
    changed = ", ".join(event.get("changedFields") or [])
    rest = {key: value for key, value in event.items() if key not in ("key", "changedFields")}
    line = f"{delivery.get('event')}: {event.get('key')} changed {changed}"
    if rest:
        line += " " + orjson.dumps(rest).decode()
    if delivery.get("errors"):
        line += " errors: " + "; ".join(error.get("message", "") for error in delivery["errors"])
    return line
