"""``GET /metrics``: Prometheus text, behind ``GOVGRAPH_METRICS_TOKEN`` when one is set."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from govgraph.metrics.multiprocess import directory, scrape_registry

PATH = "/metrics"


def metrics_endpoint(
    registry: CollectorRegistry, token: SecretStr | None
) -> Callable[[Request], Awaitable[Response]]:
    expected = token.get_secret_value().encode() if token is not None else None

    async def metrics(request: Request) -> Response:
        if expected is not None and not _presents(request.headers.get("authorization", ""), expected):
            return PlainTextResponse(
                "metrics need 'Authorization: Bearer <GOVGRAPH_METRICS_TOKEN>'\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            )
        scraped = scrape_registry(registry)
        # Reading every worker's files is file I/O: off the event loop.
        body = await run_in_threadpool(generate_latest, scraped) if directory() else generate_latest(scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    return metrics


def _presents(authorization: str, expected: bytes) -> bool:
    scheme, _, presented = authorization.partition(" ")
    matches = hmac.compare_digest(presented.strip().encode(), expected)
    return scheme.lower() == "bearer" and matches
