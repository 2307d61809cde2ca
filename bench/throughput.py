"""Scenarios 6 and 8: throughput under 32 clients, against a plain GraphQL server over the same rows.

Both servers run two workers with a listening socket each, on PostgreSQL;
``wrk`` (Debian's package) loads them from a separate process with a Lua
script, for ``BENCH_SECONDS`` (default 20) at a time, in the order govgraph,
reference, reference, govgraph: both are up throughout, and whatever the
machine does meanwhile (PostgreSQL checkpointing and vacuuming after the
scenarios before, a slower minute) falls on both alike. Each side's figure
is the mean of its two runs. The
reference (``bench/reference_server.py``) is graphql-core with DataLoaders
over asyncpg and orjson: no authorization, no audit, no cache. govgraph runs
with all three on and its audit store on PostgreSQL. Target: at least the
reference's requests per second, with no errors.

6. The golden person's portal query: six departments, 30 fields.
8. 100 different persons per request, 7 fields from two departments, keys
   drawn afresh for each of 500 bodies and read live, so no cache carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from bench.city import City
from bench.common import LIVE, bearer, serve
from bench.load import Load, combined, run_wrk, wrk_available
from bench.results import Result, ratio
from govgraph.demo.golden import ZHANG_WEI
from tests.servers import Server, free_port, wait_until_healthy

PORTAL = """
query Portal($id: %s!) {
  person(idNumber: $id) {
    idNumber name gender birthDate ethnicity household { householdId } maritalStatus
    spouse { idNumber name gender }
    socialInsurance { pensionInsured contributionMonths lastPaidMonth employer { creditCode name status } }
    annualIncome taxCompliant
    enterprises { creditCode name status }
    properties { certificateNo mortgaged owners { share person { name } } }
  }
}"""
LIST = """
query Review($ids: [%s!]!) {
  persons(idNumbers: $ids) { idNumber name gender birthDate ethnicity household { householdId } maritalStatus }
}"""
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
CONNECTIONS = 32
WORKERS = 2


@contextlib.contextmanager
def reference_server(city: City) -> Iterator[Server]:
    assert city.database_url
    port = free_port()
    log = city.scratch / f"reference-{port}.log"
    command = [sys.executable, "-m", "bench.reference_server", "--port", str(port), "--workers", str(WORKERS)]
    environ = {**os.environ, "BENCH_DATABASE_URL": city.database_url}
    root = Path(__file__).resolve().parent.parent
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=environ, cwd=root, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log)
    try:
        wait_until_healthy(server.url, process, log)
        yield server
    finally:
        server.kill(15)
        process.wait(timeout=20)


def bodies(text: str, variables: list[dict[str, object]]) -> list[bytes]:
    return [orjson.dumps({"query": text, "variables": item}) for item in variables]


def check(url: str, body: bytes, headers: dict[str, str]) -> None:
    """One request before the load: wrk counts answers, not their content."""
    response = httpx.post(
        f"{url}/graphql", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    payload = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise AssertionError(f"{url} answered {response.status_code}: {response.text[:500]}")


def load(server: Server, payloads: list[bytes], headers: dict[str, str]) -> Load:
    check(server.url, payloads[0], headers)
    run_wrk(f"{server.url}/graphql", payloads, headers, connections=CONNECTIONS, seconds=2)  # warm-up
    return run_wrk(
        f"{server.url}/graphql",
        payloads,
        headers,
        connections=CONNECTIONS,
        seconds=SECONDS,
        watch_pid=server.process.pid,
    )


def results(name: str, our_runs: list[Load], their_runs: list[Load]) -> list[Result]:
    ours, theirs = combined(*our_runs), combined(*their_runs)

    def detail(figures: Load, runs: list[Load]) -> str:
        each = " and ".join(f"{run.requests_per_second:.0f}" for run in runs)
        return (
            f"{each} req/s, p50/p95/p99 {figures.p50_ms:.1f}/{figures.p95_ms:.1f}/{figures.p99_ms:.1f} ms, "
            f"{figures.requests} requests, {figures.errors} errors, peak RSS {figures.peak_rss_mb:.0f} MiB"
        )

    return [
        Result(
            name,
            ours.requests_per_second,
            theirs.requests_per_second,
            "req/s",
            "graphql-core + asyncpg",
            ratio(ours.requests_per_second, theirs.requests_per_second),
            ">= 1",
            f"govgraph {detail(ours, our_runs)}; reference {detail(theirs, their_runs)}",
        ),
        Result(f"{name}: errors", ours.errors, theirs.errors, "errors", "reference", ours.errors, "== 0"),
    ]


async def run(city: City) -> list[Result]:
    if not city.postgres:
        print("throughput: skipped, it needs PostgreSQL (the reference server reads it)")
        return []
    if not wrk_available():
        print("throughput: skipped, wrk is not installed (apt-get install wrk)")
        return []
    generator = random.Random(20261202)
    everyone = await city.ids(city.scale)
    samples = [{"ids": generator.sample(everyone, 100)} for _ in range(500)]
    portal = {"id": ZHANG_WEI}
    audit_url = await city.audit_url("throughput")
    officer = bearer("tax_officer", "taxation", "tax-audit")

    def measure() -> dict[str, list[Load]]:
        runs: dict[str, list[Load]] = {}
        with serve(city, audit_url, workers=WORKERS) as ours, reference_server(city) as theirs:
            scenarios = {
                "portal": (
                    (ours, bodies(PORTAL % "IdNumber", [portal]), officer),
                    (theirs, bodies(PORTAL % "String", [portal]), {}),
                ),
                "list": (
                    (ours, bodies(LIST % "IdNumber", samples), LIVE),
                    (theirs, bodies(LIST % "String", samples), {}),
                ),
            }
            for name, (govgraph, reference) in scenarios.items():
                for side, (server, payloads, headers) in (
                    ("govgraph", govgraph),
                    ("reference", reference),
                    ("reference", reference),
                    ("govgraph", govgraph),
                ):
                    runs.setdefault(f"{side} {name}", []).append(load(server, payloads, headers))
        return runs

    measured = await asyncio.to_thread(measure)
    return [
        *results(
            f"6 throughput: golden portal query, {CONNECTIONS} clients, {WORKERS} workers",
            measured["govgraph portal"],
            measured["reference portal"],
        ),
        *results(
            f"8 many varied keys: 100 persons x 7 fields, live, {CONNECTIONS} clients",
            measured["govgraph list"],
            measured["reference list"],
        ),
    ]
