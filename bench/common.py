"""Shared set-up for benchmarks: tokens, servers and apps over the bench city, side-by-side timing."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from bench.city import City
from govgraph import Settings, create_app
from govgraph.auth.tokens import DEMO_SECRET, issue_token
from govgraph.demo import generate_sqlite
from govgraph.http import collector
from tests.servers import Server, govgraph_server

GENEROUS = {
    "GOVGRAPH_RATE_LIMIT_PER_SUBJECT": "1000000000",
    "GOVGRAPH_RATE_LIMIT_PER_DEPARTMENT": "1000000000",
    "GOVGRAPH_RATE_LIMIT_ANONYMOUS": "1000000000",
    "GOVGRAPH_MAX_KEYS": "10000",
    "GOVGRAPH_MAX_COST": "100000000",
    "GOVGRAPH_MAX_BODY_BYTES": str(4 * 1024 * 1024),
}
"""Limits out of a benchmark's way: it measures the work, not the refusals."""

TAX_OFFICER = {"role": "tax_officer", "department": "taxation", "purpose": "tax-audit"}


def bearer(role: str, department: str | None, purpose: str | None) -> dict[str, str]:
    token = issue_token(
        DEMO_SECRET, subject=f"bench-{role}", roles=[role], department=department, purpose=purpose
    )
    return {"Authorization": f"Bearer {token}"}


LIVE = {**bearer(**TAX_OFFICER), "Cache-Control": "no-cache"}
"""A tax officer asking for live data: every request reaches the departments."""


@contextlib.contextmanager
def serve(city: City, audit_url: str, *, workers: int = 1, **environ: str) -> Iterator[Server]:
    """``govgraph serve`` over the city, with its own audit store, in a process of its own."""
    scratch = Path(tempfile.mkdtemp(prefix="govgraph-bench-serve-", dir=city.scratch))
    settings = {
        **city.environ(),
        **GENEROUS,
        "GOVGRAPH_AUDIT_URL": audit_url,
        "GOVGRAPH_AUDIT_SPOOL": str(scratch / "audit-spool.jsonl"),
        **environ,
    }
    with govgraph_server(settings, scratch, workers=workers) as server:
        yield server


@contextlib.asynccontextmanager
async def app_client(
    city: City, audit_url: str, **options: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app in this process, over ASGI: for scenarios that reach into it (sources, audit writer)."""
    settings = Settings(
        audit_url=audit_url,
        audit_spool=city.scratch / f"spool-{id(options)}-{time.monotonic_ns()}.jsonl",
        rate_limit_per_subject=1e9,
        rate_limit_per_department=1e9,
        rate_limit_anonymous=1e9,
        max_keys=10_000,
        max_cost=100_000_000,
        **options,
    )
    app = create_app(settings, environ=city.environ())
    answered = AnsweredWhenSent(app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=answered), base_url="http://bench", timeout=120
        ) as client,
    ):
        collector.settle()  # as each worker of ``govgraph serve`` does once it has started
        yield app, client
        await answered.finished()


class AnsweredWhenSent:
    """An app whose call returns once its response's last byte is sent, as a server's client sees it.

    httpx's ASGITransport answers once the app has returned, so the work an app does after its response
    (the cache refill a compiled plan leaves to the response's background task) would be billed to the
    request. Here that work goes on in a task of its own, overlapping whatever the bench does next, as it
    does in ``govgraph serve``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def sending(message: Any) -> None:
            await send(message)
            last = message["type"] == "http.response.body" and not message.get("more_body", False)
            if last and not sent.done():
                sent.set_result(None)

        task = asyncio.create_task(self.app(scope, receive, sending))
        AFTER_RESPONSES.add(task)
        task.add_done_callback(AFTER_RESPONSES.discard)
        await asyncio.wait({sent, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the app's own error, as the plain transport raises it

    async def finished(self) -> None:
        """Wait for the work apps still do after their responses, before the app shuts down."""
        await after_responses()


AFTER_RESPONSES: set[asyncio.Task[None]] = set()
"""In-process apps' calls still running after their responses were sent."""


async def after_responses() -> None:
    await asyncio.gather(*AFTER_RESPONSES, return_exceptions=True)


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> Any:
    """POST and check: a benchmark of a request that failed would measure the wrong thing.

    The body is written and read with orjson, as the floors do: the client's JSON is not the server's cost."""
    response = await client.post(
        "/graphql",
        content=orjson.dumps({"query": query, "variables": variables}),
        headers={**headers, "Content-Type": "application/json"},
    )
    return answered(response.status_code, response.content)


def answered(status: int, content: bytes) -> Any:
    """The ``data`` of a GraphQL answer that succeeded; anything else stops the benchmark."""
    body = orjson.loads(content)
    if status != 200 or "errors" in body:
        raise AssertionError(f"benchmark request failed ({status}): {content[:500].decode(errors='replace')}")
    return body["data"]


async def department_queries(client: httpx.AsyncClient) -> dict[str, float]:
    """``govgraph_department_queries_total`` per department, from ``/metrics``."""
    text = (await client.get("/metrics")).text
    pattern = r'^govgraph_department_queries_total\{department="(\w+)"\} ([\d.e+]+)$'
    return {name: float(value) for name, value in re.findall(pattern, text, re.MULTILINE)}


class Delayed:
    """A real source, answering after a network's delay: what a remote department costs."""

    def __init__(self, source: Any, delay: float) -> None:
        self._source = source
        self._delay = delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    async def fetch(self, *arguments: Any, **options: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._source.fetch(*arguments, **options)

    async def lookup(self, *arguments: Any, **options: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._source.lookup(*arguments, **options)


def demo_city(scale: int) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="govgraph-bench-"))
    generate_sqlite(directory, scale=scale, progress=False)
    return directory


async def timed(run: Callable[[], Awaitable[object]]) -> float:
    """Seconds for one run, after the work the last one left behind its response and a full collection, so
    that neither is billed to the next."""
    await after_responses()
    gc.collect()
    await asyncio.sleep(0)
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def side_by_side(
    runs: dict[str, Callable[[], Awaitable[object]]], rounds: int, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per run, interleaving the variants round by round so drift hits all alike."""
    for _ in range(warmup):
        for run in runs.values():
            await run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(await timed(run))
    return {name: statistics.median(values) for name, values in samples.items()}
