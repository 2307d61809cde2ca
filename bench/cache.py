"""Scenario 5: the cache's pay-off, and the cost of its hit path.

Warm against cold for a 100-person query of daily fields, side by side in one
run (target: at most 0.3). Departments are remote systems; the bench city's
answer in about a millisecond, so each department query is delayed by
``BENCH_DEPARTMENT_LATENCY_MS`` (default 10), as a department API on the
network would be; the run against the undelayed city is shown for
information. Then the hit path's cost per row (RowCache.fetch on a warm
cache) against a plain dict lookup of the same rows, for information.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry

from bench.city import City
from bench.common import Delayed, app_client, bearer, graphql, side_by_side
from bench.results import Result, ratio
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
HEADERS = bearer("tax_officer", "taxation", "tax-audit")


async def latency(city: City, delay: float, rounds: int) -> tuple[float, float]:
    ids = await city.ids(100, offset=4000)
    async with app_client(city, await city.audit_url("cache")) as (app, client):
        if delay:
            app.state.sources = {name: Delayed(source, delay) for name, source in app.state.sources.items()}

        async def warm() -> None:
            await graphql(client, QUERY, {"ids": ids}, HEADERS)

        async def cold() -> None:
            await app.state.cache.backend.delete_prefix("gg:")
            await warm()

        medians = await side_by_side({"cold": cold, "warm": warm}, rounds)
    return medians["warm"], medians["cold"]


async def hit_path(rows: int = 1000, repeats: int = 50) -> tuple[float, float]:
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
    return per_row_cache, per_row_dict


async def run(city: City, rounds: int = 20) -> list[Result]:
    delay = float(os.environ.get("BENCH_DEPARTMENT_LATENCY_MS", "10")) / 1000
    warm, cold = await latency(city, delay, rounds)
    warm_local, cold_local = await latency(city, 0.0, rounds)
    per_row_cache, per_row_dict = await hit_path()
    return [
        Result(
            f"5 cache: warm vs cold, 100 persons, departments {delay * 1000:.0f} ms away",
            warm * 1000,
            cold * 1000,
            "ms",
            "cold",
            ratio(warm, cold),
            "<= 0.3",
        ),
        Result(
            f"5 cache: warm vs cold, 100 persons, local {city.backend} departments",
            warm_local * 1000,
            cold_local * 1000,
            "ms",
            "cold",
            ratio(warm_local, cold_local),
            "-",
        ),
        Result(
            "5 cache: hit path per row vs a dict lookup",
            per_row_cache * 1e6,
            per_row_dict * 1e6,
            "µs",
            "dict",
            ratio(per_row_cache, per_row_dict),
            "-",
        ),
    ]
