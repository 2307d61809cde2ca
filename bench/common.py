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
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client,
    ):
        collector.settle()  # as each worker of ``govgraph serve`` does once it has started
        yield app, client


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
    body = orjson.loads(response.content)
    if response.status_code != 200 or "errors" in body:
        raise AssertionError(f"benchmark request failed ({response.status_code}): {response.text[:500]}")
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
    """Seconds for one run, after a full collection so one variant's garbage isn't billed to the next."""
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
