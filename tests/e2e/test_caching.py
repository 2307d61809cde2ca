"""Freshness-driven caching over HTTP: TTLs from the catalog, client demands, isolation, stale-if-error, invalidation."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.auth_helpers import bearer
from tests.conftest import AppFactory, QueryCounter, graphql, require_service

ZHANG_WEI = "110101199003071233"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
DAY = 86_400
TAX = bearer("tax_officer", "tax-audit")
MIXED = """
query($id: IdNumber!, $code: CreditCode!) {
  person(idNumber: $id) { name maritalStatus annualIncome }
  enterprise(creditCode: $code) { name status }
}"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_app(app_factory: AppFactory) -> Any:
    """An app of the test's own, whose cache reads a clock the test moves."""

    async def start(
        environ_override: dict[str, str] | None = None, **options: Any
    ) -> tuple[Starlette, httpx.AsyncClient, Clock]:
        application, client = await app_factory(environ_override, **options)
        clock = Clock()
        application.state.cache.clock = clock
        return application, client, clock

    return start


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, query: str = MIXED, **variables: str
) -> dict[str, Any]:
    return await graphql(client, query, {"id": ZHANG_WEI, "code": EXAMPLE_TECH, **variables}, headers or TAX)


def served(body: dict[str, Any]) -> dict[str, str]:
    return {entry["department"]: entry["servedFrom"] for entry in body["extensions"]["freshness"]}


async def test_second_request_within_ttl_queries_only_realtime_fields(make_app: Any) -> None:
    app, client, _ = await make_app()
    queries = QueryCounter(app)
    first = await ask(client)
    queries.reset()
    second = await ask(client)

    assert second["data"] == first["data"]
    assert queries.counts == {**dict.fromkeys(queries.counts, 0), "market_regulation": 1}
    assert served(second) == {
        "public_security": "cache",
        "civil_affairs": "cache",
        "taxation": "cache",
        "market_regulation": "live",
    }
    freshness = {entry["department"]: entry for entry in second["extensions"]["freshness"]}
    assert freshness["taxation"]["maxAge"] == 30 * DAY
    assert freshness["public_security"]["maxAge"] == DAY
    assert freshness["market_regulation"]["maxAge"] is None
    assert freshness["taxation"]["age"] >= 0 and freshness["taxation"]["asOf"].endswith("+00:00")


async def test_ttl_expiry_refetches_what_expired_only(make_app: Any) -> None:
    app, client, clock = await make_app()
    queries = QueryCounter(app)
    await ask(client)
    clock.now += DAY + 1
    queries.reset()
    body = await ask(client)

    assert queries.counts["public_security"] == 1
    assert queries.counts["civil_affairs"] == 1
    assert queries.counts["taxation"] == 0
    assert served(body)["taxation"] == "cache"
    # Not public: shown as of the start of its 30-day window, whoever filled the entry.
    taxation = next(e for e in body["extensions"]["freshness"] if e["department"] == "taxation")
    assert taxation["age"] == clock.now % (30 * DAY)


async def test_max_age_refetches_older_entries(make_app: Any) -> None:
    app, client, clock = await make_app()
    queries = QueryCounter(app)
    await ask(client)
    clock.now += 7200
    queries.reset()
    await ask(client, {**TAX, "Cache-Control": "max-age=86400"})
    assert queries.counts["taxation"] == 0

    queries.reset()
    await ask(client, {**TAX, "Cache-Control": "max-age=3600"})
    assert queries.counts["taxation"] == 1
    assert queries.counts["public_security"] == 1


async def test_no_cache_needs_a_role_allowed_to_bypass(make_app: Any) -> None:
    app, client, _ = await make_app()
    queries = QueryCounter(app)
    clerk = bearer("window_clerk", "housing-subsidy")
    await ask(client, clerk)
    queries.reset()
    refused = await ask(client, {**clerk, "Cache-Control": "no-cache"})
    assert queries.counts["public_security"] == 0
    assert "no-cache needs a role allowed to bypass the cache" in refused["extensions"]["cacheControl"]

    queries.reset()
    honoured = await ask(client, {**TAX, "Cache-Control": "no-cache"})
    assert queries.counts["public_security"] == 1 and queries.counts["civil_affairs"] == 1
    assert "cacheControl" not in honoured["extensions"]
    assert set(served(honoured).values()) == {"live"}


ADDRESS_QUERY = "query($id: IdNumber!) { person(idNumber: $id) { registeredAddress household { address } } }"
FULL_ADDRESS = "北京市东城区景山前街4号院2号楼301"


REGISTRY_POLICY = """
purposes:
  household-admin: {zh: 户籍管理, en: Household registration administration}
roles:
  registry_clerk:
    department: public_security
    description: {zh: 户籍窗口, en: Registry counter clerk}
    grants:
      - fields: [Person.registeredAddress, Household.address]
        mode: mask
        purposes: [household-admin]
  police_officer:
    department: public_security
    description: {zh: 户籍民警, en: Household registration police officer}
    grants:
      - fields: [Person.registeredAddress, Household.address]
        mode: read
        purposes: [household-admin]
  window_clerk:
    department: government_service_center
    description: {zh: 窗口, en: Window clerk}
    grants:
      - fields: [Person.registeredAddress, Household.address]
        mode: mask
        purposes: [household-admin]
"""


def registry_bearer(role: str, department: str) -> dict[str, str]:
    return bearer(role, "household-admin", department=department)  # type: ignore[arg-type]


@pytest.mark.parametrize("masked_first", [True, False])
async def test_one_cached_row_serves_each_role_of_a_department_its_own_view(
    make_app: Any, tmp_path: Path, masked_first: bool
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(REGISTRY_POLICY, encoding="utf-8")
    app, client, _ = await make_app(policy=policy)
    queries = QueryCounter(app)
    order = [
        ("masked", registry_bearer("registry_clerk", "public_security")),
        ("full", registry_bearer("police_officer", "public_security")),
    ]
    if not masked_first:
        order.reverse()
    responses = {}
    for name, headers in order:
        responses[name] = await client.post(
            "/graphql", json={"query": ADDRESS_QUERY, "variables": {"id": ZHANG_WEI}}, headers=headers
        )

    assert responses["masked"].json()["data"]["person"] == {
        "registeredAddress": "北京市东城区",
        "household": {"address": "北京市东城区"},
    }
    assert "景山前街" not in responses["masked"].text
    assert responses["full"].json()["data"]["person"] == {
        "registeredAddress": FULL_ADDRESS,
        "household": {"address": FULL_ADDRESS},
    }
    assert queries.counts["public_security"] == 2, (
        "one query for the residents row, one for the household row, shared by both roles of the department"
    )

    queries.reset()
    other = await client.post(
        "/graphql",
        json={"query": ADDRESS_QUERY, "variables": {"id": ZHANG_WEI}},
        headers=registry_bearer("window_clerk", "government_service_center"),
    )
    assert other.json()["data"]["person"]["registeredAddress"] == "北京市东城区"
    assert queries.counts["public_security"] == 2, "another department's reads never warm this one's entries"


async def test_stale_if_error_then_source_unavailable(make_app: Any, demo_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "city"
    shutil.copytree(demo_dir, copy)
    app, client, clock = await make_app({"GOVGRAPH_DEMO_DIR": str(copy)})
    warm = await ask(client)
    assert warm["data"]["person"]["maritalStatus"] == "married"

    (copy / "civil_affairs.db").unlink()
    source = app.state.sources["civil_affairs"]
    await source.close()
    await source.open()
    clock.now += DAY + 60
    stale = await ask(client)
    assert stale["data"]["person"]["maritalStatus"] == "married"
    assert served(stale)["civil_affairs"] == "stale"
    assert "errors" not in stale

    clock.now += DAY
    down = await ask(client)
    assert down["data"]["person"]["maritalStatus"] is None
    assert down["data"]["person"]["name"] == "张伟"
    assert down["data"]["enterprise"]["name"] == "北京示例科技有限公司"
    [error] = down["errors"]
    assert error["path"] == ["person", "maritalStatus"]
    assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "department": "civil_affairs"}
    assert "civil_affairs.db" not in str(down) and "sqlite" not in str(down).lower()


async def test_metrics_count_hits_misses_and_passthrough(make_app: Any) -> None:
    _, client, _ = await make_app()
    await ask(client)
    await ask(client)
    metrics = (await client.get("/metrics")).text

    assert 'govgraph_cache_rows_total{department="taxation",outcome="miss"} 1.0' in metrics
    assert 'govgraph_cache_rows_total{department="taxation",outcome="hit"} 1.0' in metrics
    assert 'govgraph_cache_rows_total{department="market_regulation",outcome="passthrough"} 2.0' in metrics


REDIS_DB = "redis://127.0.0.1:6379/13"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    require_service("Redis", "127.0.0.1", 6379)
    import redis.asyncio as redis

    client = redis.from_url(REDIS_DB)
    await client.flushdb()
    yield REDIS_DB
    await client.flushdb()
    await client.aclose()


async def test_memory_and_redis_backends_give_identical_results(make_app: Any, redis_url: str) -> None:
    query = """
    query($id: IdNumber!, $code: CreditCode!) {
      person(idNumber: $id) { name birthDate maritalStatus annualIncome socialInsurance { lastPaidMonth pensionInsured }
                              household { members { name } } properties { area mortgaged } }
      enterprise(creditCode: $code) { name establishedDate taxArrears }
    }"""
    _, memory_client, _ = await make_app()
    _, redis_client, _ = await make_app(cache_url=redis_url)
    _, redis_client_2, _ = await make_app(cache_url=redis_url)
    memory = [await ask(memory_client, query=query) for _ in range(2)]
    shared = [await ask(redis_client, query=query), await ask(redis_client_2, query=query)]

    assert memory[0]["data"] == memory[1]["data"] == shared[0]["data"] == shared[1]["data"]
    assert served(memory[1]) == served(shared[1])
    assert served(shared[1])["taxation"] == "cache", "the second instance found the first one's rows in Redis"


async def test_update_with_trigger_is_visible_at_once_across_instances(
    make_app: Any, redis_url: str, postgres_demo_url: str
) -> None:
    import asyncpg

    from tests.conftest import postgres_environ

    environ = postgres_environ(postgres_demo_url)
    first_app, first, _ = await make_app(environ, cache_url=redis_url, cache_listen=True)
    second_app, second, _ = await make_app(environ, cache_url=redis_url, cache_listen=True)
    connection = await asyncpg.connect(postgres_demo_url.replace("+asyncpg", ""))
    person = await connection.fetchval(
        "SELECT taxpayer_id_no FROM taxation.individual_taxpayers WHERE taxpayer_id_no NOT IN ($1, $2, $3) ORDER BY 1 LIMIT 1",
        ZHANG_WEI,
        "110101199208152467",
        "110105196504123312",
    )
    original = await connection.fetchval(
        "SELECT annual_income FROM taxation.individual_taxpayers WHERE taxpayer_id_no = $1", person
    )
    query = "query($id: IdNumber!) { person(idNumber: $id) { annualIncome } }"
    try:
        assert (await graphql(first, query, {"id": person}, TAX))["data"]["person"][
            "annualIncome"
        ] == original
        assert (await graphql(second, query, {"id": person}, TAX))["data"]["person"][
            "annualIncome"
        ] == original
        received = first_app.state.invalidation.received + second_app.state.invalidation.received
        await connection.execute(
            "UPDATE taxation.individual_taxpayers SET annual_income = $1 WHERE taxpayer_id_no = $2",
            original + 777,
            person,
        )
        for _ in range(100):
            if first_app.state.invalidation.received + second_app.state.invalidation.received >= received + 2:
                break
            await asyncio.sleep(0.02)
        assert (await graphql(second, query, {"id": person}, TAX))["data"]["person"][
            "annualIncome"
        ] == original + 777
        assert (await graphql(first, query, {"id": person}, TAX))["data"]["person"][
            "annualIncome"
        ] == original + 777
    finally:
        await connection.execute(
            "UPDATE taxation.individual_taxpayers SET annual_income = $1 WHERE taxpayer_id_no = $2",
            original,
            person,
        )
        await connection.close()


def test_realtime_department_tables_have_no_cached_groups(demo_dir: Path) -> None:
    from govgraph.cache.policy import CachePolicy
    from govgraph.catalog.loader import load_catalog
    from govgraph.settings import DEMO_CATALOG

    policy = CachePolicy(load_catalog(DEMO_CATALOG, env={}))
    assert policy.split("market_regulation", "enterprises", ["entname", "regstate"]).groups == ()
    assert policy.split("natural_resources", "real_estate_units", []).live == ()
    assert policy.lookup_ttl("natural_resources", "property_rights", "holder_id_no") is None
    with sqlite3.connect(demo_dir / "market_regulation.db") as connection:
        assert connection.execute("SELECT count(*) FROM enterprises").fetchone()[0] > 0
