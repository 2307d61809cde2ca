"""``/metrics`` through HTTP: requests by operation and outcome, denials by role and coordinate, cache
outcomes, department calls, audit commits; its protection; and, under ``govgraph serve --workers 2``, one
scrape that adds up every worker."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from govgraph.demo.golden import LI_NA, WANG_JIANGUO, ZHANG_WEI
from govgraph.http.workers import reuse_port_supported
from govgraph.metrics.multiprocess import shared_directory
from tests.auth_helpers import bearer, token
from tests.conftest import AppFactory
from tests.http.test_workers import _serving_workers, wait_until_every_worker_listens
from tests.servers import demo_environ, govgraph_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

TAX = {**bearer("tax_officer", "tax-audit"), "Cache-Control": "no-cache"}
CLERK = bearer("window_clerk")
INCOME = "query TaxCheck($id: IdNumber!) { person(idNumber: $id) { name annualIncome } }"
CLERK_LOOKS = "query ClerkLooks($id: IdNumber!) { person(idNumber: $id) { name annualIncome maritalStatus } }"
METRICS_TOKEN = "scrape-me-7d0c1f3a9b"


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def matching(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: amount for (sample, labels), amount in samples.items() if sample == name and amount}


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return parse(response.text)


async def ask(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: object
) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def test_requests_count_by_operation_and_outcome(app_factory: AppFactory) -> None:
    _, client = await app_factory()
    before = await scrape(client)

    assert "errors" not in (await ask(client, INCOME, TAX, id=ZHANG_WEI)).json()
    assert (await ask(client, CLERK_LOOKS, CLERK, id=ZHANG_WEI)).json()["errors"]
    await ask(client, "query($id: IdNumber!) { person(idNumber: $id) { name } }", TAX, id=ZHANG_WEI)
    await ask(client, f"query {'A' * 65} {{ __typename }}", TAX)
    assert (await ask(client, "query Broken { nope }", TAX)).json()["data"] is None
    refused = await ask(client, INCOME, {"Authorization": "Bearer not-a-token"}, id=ZHANG_WEI)
    assert refused.status_code == 401
    after = await scrape(client)

    def grown(operation: str, outcome: str) -> float:
        labels = {"operation": operation, "outcome": outcome}
        return value(after, "govgraph_requests_total", **labels) - value(
            before, "govgraph_requests_total", **labels
        )

    assert grown("TaxCheck", "ok") == 1
    assert grown("ClerkLooks", "partial") == 1
    assert grown("anonymous", "ok") == 1
    assert grown("other", "ok") == 1, "a name over 64 characters is not a label"
    # Neither a document that does not validate nor a refused token had its operation read.
    assert grown("unknown", "rejected") == 2
    assert grown("Broken", "rejected") == 0
    assert value(after, "govgraph_request_duration_seconds_count", operation="TaxCheck") == 1
    assert not any("A" * 65 in dict(labels).get("operation", "") for _, labels in after)


async def test_refusals_before_graphql_count_as_rejected(app_factory: AppFactory) -> None:
    _, client = await app_factory(rate_limit_anonymous=1)
    first = await ask(client, "query Hello { __typename }")
    second = await ask(client, "query Hello { __typename }")
    assert (first.status_code, second.status_code) == (200, 429)
    samples = await scrape(client)
    assert value(samples, "govgraph_requests_total", operation="Hello", outcome="ok") == 1
    assert value(samples, "govgraph_requests_total", operation="unknown", outcome="rejected") == 1


async def test_graphiqls_page_is_not_an_operation(app_factory: AppFactory) -> None:
    _, client = await app_factory()
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert not matching(await scrape(client), "govgraph_requests_total")


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled-plan", "graphql-core"])
async def test_denials_count_by_role_and_coordinate(app_factory: AppFactory, compiled: bool) -> None:
    _, client = await app_factory(compiled_plans=compiled)
    await ask(client, CLERK_LOOKS, CLERK, id=ZHANG_WEI)
    listed = "query Many($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name annualIncome } }"
    body = (await ask(client, listed, CLERK, ids=[ZHANG_WEI, LI_NA, WANG_JIANGUO])).json()
    assert len(body["errors"]) == 3, "one error a person"

    denials = matching(await scrape(client), "govgraph_denials_total")
    assert denials == {
        frozenset({("role", "window_clerk"), ("coordinate", "Person.annualIncome")}): 2,
        frozenset({("role", "window_clerk"), ("coordinate", "Person.maritalStatus")}): 1,
    }, "counted once a request and coordinate, however many places it was denied"


async def test_denials_name_no_subject_and_anonymous_callers_as_such(app_factory: AppFactory) -> None:
    _, client = await app_factory()
    await ask(client, INCOME, bearer("window_clerk", subject="clerk-zhang-110101199003071233"), id=ZHANG_WEI)
    await ask(client, INCOME, None, id=ZHANG_WEI)
    text = (await client.get("/metrics")).text
    assert "clerk-zhang" not in text and ZHANG_WEI not in text
    denials = matching(parse(text), "govgraph_denials_total")
    roles = {dict(labels)["role"] for labels in denials}
    assert roles == {"window_clerk", "anonymous"}


async def test_cache_outcomes_and_department_calls(app_factory: AppFactory) -> None:
    app, client = await app_factory()
    before = await scrape(client)
    officer = bearer("tax_officer", "tax-audit")
    await ask(client, INCOME, officer, id=ZHANG_WEI)
    await ask(client, INCOME, officer, id=ZHANG_WEI)
    after = await scrape(client)

    def grown(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grown("govgraph_cache_rows_total", department="taxation", outcome="miss") == 1
    assert grown("govgraph_cache_rows_total", department="taxation", outcome="hit") == 1
    assert grown("govgraph_source_duration_seconds_count", department="taxation") == 1
    assert grown("govgraph_department_queries_total", department="taxation") == 1
    assert grown("govgraph_source_duration_seconds_count", department="market_regulation") == 0
    for department, source in app.state.sources.items():
        assert value(after, "govgraph_department_queries_total", department=department) == source.queries
        assert value(after, "govgraph_source_circuit_state", department=department) == 0


async def test_a_failing_department_counts_errors_and_opens_its_circuit(
    app_factory: AppFactory, demo_dir: Path, tmp_path: Path
) -> None:
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_URL": f"sqlite+aiosqlite:///{tmp_path}/gone/taxation.db",
    }
    _, client = await app_factory(environ, breaker_failures=1)
    first = (await ask(client, INCOME, TAX, id=ZHANG_WEI)).json()
    assert first["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    opened = await scrape(client)
    assert value(opened, "govgraph_source_errors_total", department="taxation", reason="unavailable") == 1
    assert value(opened, "govgraph_source_circuit_state", department="taxation") == 2
    assert value(opened, "govgraph_source_circuit_state", department="public_security") == 0

    await ask(client, INCOME, TAX, id=ZHANG_WEI)
    refused = await scrape(client)
    assert value(refused, "govgraph_source_errors_total", department="taxation", reason="circuit_open") == 1
    assert value(refused, "govgraph_source_duration_seconds_count", department="taxation") == 1, (
        "a call refused by the open circuit took no department time"
    )
    assert value(refused, "govgraph_requests_total", operation="TaxCheck", outcome="partial") == 2


async def test_audit_commits_are_timed(app_factory: AppFactory) -> None:
    _, client = await app_factory()
    before = await scrape(client)
    assert (await ask(client, INCOME, TAX, id=ZHANG_WEI)).json()["data"]["person"]["annualIncome"] == 186000
    await ask(client, "query Hello { __typename }")
    after = await scrape(client)
    count = "govgraph_audit_write_duration_seconds_count"
    assert value(after, count) - value(before, count) == 1, "one record, one commit; nothing for __typename"
    assert not matching(after, "govgraph_audit_write_failures_total")


async def test_a_metrics_token_guards_the_endpoint(app_factory: AppFactory) -> None:
    _, client = await app_factory(metrics_token=METRICS_TOKEN)
    refused = [
        await client.get("/metrics"),
        await client.get("/metrics", headers={"Authorization": "Bearer wrong"}),
        await client.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"}),
        await client.get("/metrics", headers={"Authorization": f"Bearer {token('auditor')}"}),
    ]
    assert [response.status_code for response in refused] == [401] * 4
    assert all(response.headers["www-authenticate"].startswith("Bearer") for response in refused)
    assert all(METRICS_TOKEN not in response.text for response in refused)

    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200
    assert METRICS_TOKEN not in allowed.text
    assert "govgraph_requests_total" in allowed.text
    assert (await ask(client, "query Hello { __typename }")).status_code == 200, "GraphQL is not guarded"


async def test_metrics_can_be_switched_off(app_factory: AppFactory) -> None:
    _, client = await app_factory(metrics=False)
    assert (await client.get("/metrics")).status_code == 404
    assert (await ask(client, "query Hello { __typename }")).status_code == 200


async def test_apps_in_one_process_keep_their_own_counts(app_factory: AppFactory) -> None:
    _, first = await app_factory()
    _, second = await app_factory()
    await ask(first, "query Hello { __typename }")
    assert value(await scrape(first), "govgraph_requests_total", operation="Hello", outcome="ok") == 1
    assert value(await scrape(second), "govgraph_requests_total", operation="Hello", outcome="ok") == 0


REQUESTS = 48
SCRAPE_ATTEMPTS = 100


@pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT balancing is Linux's")
def test_a_scrape_adds_up_every_worker(demo_dir: Path, tmp_path: Path) -> None:
    with govgraph_server(demo_environ(demo_dir, tmp_path), tmp_path, workers=2) as server:
        workers = _serving_workers(server.process.pid)
        assert len(workers) == 2
        wait_until_every_worker_listens(server.port, 2)
        directory = Path(_environment_of(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
        assert directory.is_dir() and directory != tmp_path

        async def burst() -> None:
            limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
                answers = await asyncio.gather(
                    *(
                        client.post("/graphql", json={"query": "query Counted { __typename }"})
                        for _ in range(REQUESTS)
                    )
                )
            assert {answer.status_code for answer in answers} == {200}

        asyncio.run(burst())
        # A request is counted just after its response is sent: poll, a bounded number of times.
        counted = 0.0
        for _ in range(SCRAPE_ATTEMPTS):
            samples = parse(httpx.get(f"{server.url}/metrics", timeout=10).text)
            counted = value(samples, "govgraph_requests_total", operation="Counted", outcome="ok")
            if counted >= REQUESTS:
                break
            time.sleep(0.05)
        assert counted == REQUESTS
        assert value(samples, "govgraph_request_duration_seconds_count", operation="Counted") == REQUESTS
        assert {value(samples, "govgraph_source_circuit_state", department="taxation")} == {0}

        per_worker = {pid: _requests_of(directory, pid, tmp_path) for pid in workers}
        assert sum(per_worker.values()) == REQUESTS
        # The kernel spreads 48 new connections over both sockets: one worker taking all has odds of 2^-47.
        assert all(count > 0 for count in per_worker.values()), per_worker
    assert not directory.exists(), "the temporary directory is removed when govgraph serve exits"


def _environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode(errors="replace").split("=", 1) for entry in entries if b"=" in entry)


def _requests_of(directory: Path, pid: int, scratch: Path) -> float:
    """One worker's own request count, read from its files alone."""
    own = scratch / f"worker-{pid}"
    own.mkdir()
    for path in directory.glob(f"*_{pid}.db"):
        shutil.copy(path, own / path.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(own))
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "govgraph_requests_total" and sample.labels.get("operation") == "Counted"
    )


def test_serve_prepares_the_shared_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with shared_directory(1) as none:
        assert none is None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with shared_directory(2) as fresh:
        assert fresh is not None and os.environ["PROMETHEUS_MULTIPROC_DIR"] == fresh
        assert Path(fresh).is_dir() and not any(Path(fresh).iterdir())
    assert not Path(fresh).exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ

    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1234.db").write_bytes(b"an earlier run")
    (given / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with shared_directory(2) as chosen:
        assert chosen == str(given)
        assert [path.name for path in given.iterdir()] == ["notes.txt"], "an earlier run's samples go"
    assert given.is_dir(), "the operator's directory stays"
