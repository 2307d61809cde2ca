"""The cache's pay-off and its cost.

1. Warm / cold latency for a 100-person query of daily fields, side by
   side in one run (target: at most 0.3). Departments are remote systems;
   the demo's are local SQLite files answering in about a millisecond, so
   the run is made twice: as is, and with each department query delayed
   by ``BENCH_DEPARTMENT_LATENCY_MS`` (default 10) as a department API on
   the network would be. The target is judged on the second.
2. The cache-hit path's cost per row (RowCache.fetch on a warm cache)
   against a plain dict lookup of the same rows.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from bench.common import demo_city, side_by_side
from govgraph import Settings, create_app
from govgraph.auth.tokens import DEMO_SECRET, issue_token
from govgraph.cache.backend import MemoryBackend
from govgraph.cache.freshness import NO_DEMAND, Freshness
from govgraph.cache.metrics import CacheMetrics
from govgraph.cache.policy import CachePolicy
from govgraph.cache.rows import RowCache
from govgraph.catalog.loader import load_catalog
from govgraph.settings import DEMO_CATALOG
from govgraph.sources.memory import MemorySource

QUERY = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) { name gender birthDate ethnicity household { householdId } }
}"""
TARGET = 0.3


class DelayedSource:
    """A real source, answering after a network-like delay: what a remote department costs."""

    def __init__(self, source: Any, delay: float) -> None:
        self._source = source
        self._delay = delay
        self.department = source.department
        self.max_keys_per_query = source.max_keys_per_query

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    async def fetch(self, *arguments: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._source.fetch(*arguments)

    async def lookup(self, *arguments: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._source.lookup(*arguments)


async def latency(rounds: int, delay: float = 0.0) -> float:
    directory = demo_city(scale=2000)
    with sqlite3.connect(directory / "public_security.db") as connection:
        ids = [row[0] for row in connection.execute("SELECT resident_id FROM residents LIMIT 100")]
    token = issue_token(
        DEMO_SECRET, subject="bench", roles=["tax_officer"], department="taxation", purpose="tax-audit"
    )
    scratch = Path(tempfile.mkdtemp(prefix="govgraph-bench-cache-"))
    settings = Settings(
        audit_url=f"sqlite+aiosqlite:///{scratch}/audit.db", audit_spool=scratch / "spool.jsonl"
    )
    app = create_app(settings, environ={"GOVGRAPH_DEMO_DIR": str(directory)})
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        if delay:
            app.state.sources = {
                name: DelayedSource(source, delay) for name, source in app.state.sources.items()
            }

        async def query() -> None:
            response = await client.post(
                "/graphql",
                json={"query": QUERY, "variables": {"ids": ids}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert "errors" not in response.json(), response.text[:300]

        async def cold() -> None:
            await app.state.cache.backend.delete_prefix("gg:")
            await query()

        medians = await side_by_side({"cold": cold, "warm": query}, rounds)
    ratio = medians["warm"] / medians["cold"]
    where = f"departments {delay * 1000:.0f} ms away" if delay else "local SQLite departments"
    print(f"cache: 100-person query of daily fields, {where}")
    print(f"  cold        {medians['cold'] * 1000:8.2f} ms (median of {rounds})")
    print(f"  warm        {medians['warm'] * 1000:8.2f} ms")
    verdict = ("OK" if ratio <= TARGET else "OVER TARGET") if delay else "(informational)"
    print(f"  warm/cold   {ratio:8.2f}  (target <= {TARGET})  {verdict}")
    return ratio


async def hit_path(rows: int = 1000, repeats: int = 50) -> float:
    catalog = load_catalog(DEMO_CATALOG, env={})
    residents = [
        {
            "resident_id": f"{index:018d}",
            "full_name": "x",
            "sex": "male",
            "birth_date": None,
            "ethnic_group": "Han",
            "hukou_address": "a",
            "household_no": "h",
        }
        for index in range(rows)
    ]
    source = MemorySource("public_security", {"residents": residents})
    cache = RowCache(MemoryBackend(), CachePolicy(catalog), CacheMetrics(CollectorRegistry()))
    keys = [row["resident_id"] for row in residents]
    columns = ("full_name", "sex")
    await cache.fetch(source, "residents", "resident_id", columns, keys, NO_DEMAND, Freshness())
    start = time.perf_counter()
    for _ in range(repeats):
        await cache.fetch(source, "residents", "resident_id", columns, keys, NO_DEMAND, Freshness())
    per_row_cache = (time.perf_counter() - start) / (repeats * rows)
    plain = {row["resident_id"]: row for row in residents}
    start = time.perf_counter()
    for _ in range(repeats):
        {key: plain[key] for key in keys}
    per_row_dict = (time.perf_counter() - start) / (repeats * rows)
    print("cache: hit path per row")
    print(f"  RowCache.fetch  {per_row_cache * 1e6:7.3f} µs/row")
    print(f"  dict lookup     {per_row_dict * 1e6:7.3f} µs/row")
    print(f"  ratio           {per_row_cache / per_row_dict:7.1f}x")
    return per_row_cache / per_row_dict


async def run(rounds: int = 20) -> dict[str, float]:
    delay = float(os.environ.get("BENCH_DEPARTMENT_LATENCY_MS", "10")) / 1000
    return {
        "warm_over_cold_local": await latency(rounds),
        "warm_over_cold": await latency(rounds, delay),
        "hit_over_dict": await hit_path(),
    }


if __name__ == "__main__":
    asyncio.run(run())
