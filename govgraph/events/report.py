"""Report a department's changes to govgraph: the call a department behind a service makes (``http/changes.py``).

``report_changes`` signs the body Standard Webhooks style and POSTs it,
retrying a failed connection or a 503 with the same ``webhook-id``, so that
govgraph records the call once. ``govgraph events send`` uses it; so can a
department's own Python code.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from govgraph.events.signing import headers

ATTEMPTS = 5
RETRY_SECONDS = 1.0


async def report_changes(
    server: str,
    department: str,
    secret: str,
    changes: Sequence[dict[str, Any]],
    *,
    message_id: str | None = None,
    attempts: int = ATTEMPTS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[int, dict[str, Any]]:
    """``(status, answer)`` of govgraph's last answer. Raises ``httpx.HTTPError`` when no attempt connected."""
    body = orjson.dumps({"changes": list(changes)})
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    url = f"{server.rstrip('/')}/changes/{department}"
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
        for attempt in range(attempts):
            signed = {**headers(secret, message_id, body), "Content-Type": "application/json"}
            try:
                answer = await client.post(url, content=body, headers=signed)
            except httpx.TransportError:
                if attempt == attempts - 1:
                    raise
            else:
                if answer.status_code != 503 or attempt == attempts - 1:
                    return answer.status_code, _json(answer)
            await asyncio.sleep(RETRY_SECONDS)
    raise AssertionError("unreachable")


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        return {"errors": [{"message": f"govgraph answered {answer.status_code} without JSON"}]}
    return document if isinstance(document, dict) else {"answer": document}
