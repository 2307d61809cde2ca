"""A department that is a federation subgraph of its own, read through ``_entities``: a second govgraph process
serving the demo city (a real ``govgraph serve`` on a free port) stands in for the taxation department."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govgraph.catalog.loader import load_catalog
from govgraph.demo.golden import ZHANG_WEI
from govgraph.errors import CatalogError
from tests.apis import CORPUS, TAX, Counted, catalog_with, serving
from tests.auth_helpers import bearer, token
from tests.conftest import AppFactory, graphql
from tests.servers import Server, demo_environ, govgraph_server

SUBGRAPH_FILE = Path(__file__).parents[2] / "govgraph" / "demo" / "apis" / "taxation-graphql.yaml"
SERVICE_TOKEN = token("tax_officer", "tax-audit", subject="platform")
GENEROUS = {
    "GOVGRAPH_RATE_LIMIT_PER_SUBJECT": "1000000",
    "GOVGRAPH_RATE_LIMIT_PER_DEPARTMENT": "1000000",
    "GOVGRAPH_MAX_VERIFY_QUESTIONS_PER_WINDOW": "1000000",
}


INCOME = "query($id: IdNumber!) { person(idNumber: $id) { name annualIncome } }"


async def ask_for_income(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/graphql", json={"query": INCOME, "variables": {"id": ZHANG_WEI}}, headers=TAX)


def only_taxation_failed(response: httpx.Response) -> dict[str, Any]:
    """The person is there; the subgraph department's field alone is null with SOURCE_UNAVAILABLE."""
    body: dict[str, Any] = response.json()
    assert body["data"]["person"] == {"name": "张伟", "annualIncome": None}
    assert body["errors"][0]["extensions"] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}
    return body


@pytest.fixture(scope="module")
def taxation_subgraph(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("taxation-subgraph")
    with govgraph_server(demo_environ(demo_dir, directory, **GENEROUS), directory) as server:
        yield server


@pytest.fixture
def subgraph_catalog(tmp_path: Path) -> Path:
    return catalog_with(tmp_path, SUBGRAPH_FILE, "taxation")


def through(url: str, demo_dir: Path, secret: str = SERVICE_TOKEN) -> dict[str, str]:
    return {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_GRAPHQL": url,
        "GOVGRAPH_TAXATION_GRAPHQL_TOKEN": secret,
    }


def answer(body: dict[str, Any]) -> dict[str, Any]:
    return {"data": body.get("data"), "errors": body.get("errors")}


def person_ids(demo_dir: Path, count: int) -> list[str]:
    with sqlite3.connect(demo_dir / "public_security.db") as connection:
        return [row[0] for row in connection.execute("SELECT resident_id FROM residents LIMIT ?", (count,))]


async def audit_count(server: Server) -> int:
    import aiosqlite

    path = server.log.parent / "audit.db"
    async with aiosqlite.connect(path) as connection:
        cursor = await connection.execute("SELECT count(*) FROM govgraph_audit_records")
        (count,) = await cursor.fetchone()  # type: ignore[misc]
        return int(count)


async def test_the_subgraph_department_answers_every_query_as_its_database_did(
    sqlite_apps: AppFactory, demo_dir: Path, subgraph_catalog: Path, taxation_subgraph: Server
) -> None:
    _, database = await sqlite_apps({"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    _, through_subgraph = await sqlite_apps(
        through(f"{taxation_subgraph.url}/graphql", demo_dir), catalog=subgraph_catalog
    )
    ids = person_ids(demo_dir, 300)
    corpus = [
        *CORPUS,
        (
            """query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber annualIncome taxCompliant } }""",
            {"ids": ids},
            TAX,
        ),
    ]
    recorded = await audit_count(taxation_subgraph)
    for query, variables, headers in corpus:
        expected = answer(await graphql(database, query, variables, headers))
        assert answer(await graphql(through_subgraph, query, variables, headers)) == expected, query
    assert await audit_count(taxation_subgraph) > recorded, "the department recorded the platform's reads"


async def test_a_batch_of_keys_is_one_request_of_representations(
    sqlite_apps: AppFactory, demo_dir: Path, subgraph_catalog: Path, taxation_subgraph: Server
) -> None:
    seen: list[dict[str, Any]] = []

    async def relay(request: Request) -> Response:
        body = await request.body()
        seen.append(orjson.loads(body))
        async with httpx.AsyncClient() as client:
            upstream = await client.post(
                f"{taxation_subgraph.url}/graphql",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": request.headers["authorization"],
                },
            )
        return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")

    with serving(Starlette(routes=[Route("/graphql", relay, methods=["POST"])])) as url:
        _, client = await sqlite_apps(through(f"{url}/graphql", demo_dir), catalog=subgraph_catalog)
        ids = person_ids(demo_dir, 700)
        body = await graphql(
            client,
            "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { annualIncome } }",
            {"ids": ids},
            TAX,
        )
        cached_read = await graphql(
            client,
            "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { annualIncome } }",
            {"ids": ids[:3]},
            bearer("tax_officer", "tax-audit"),
        )
    assert "errors" not in body and "errors" not in cached_read
    *seen, refill = seen
    # The taxation columns that change together are cached together: a read through the cache asks for the group.
    assert "... on Person { idNumber annualIncome taxCompliant } }" in refill["query"]
    assert len(seen) == 2, "700 keys in batches of 500"
    batches = [[item["idNumber"] for item in request["variables"]["representations"]] for request in seen]
    assert sorted(len(batch) for batch in batches) == [200, 500]
    assert sorted(key for batch in batches for key in batch) == sorted(ids), "every key once, sent together"
    first = seen[0]
    # A live read asks for what was selected, not the rest of the cached group (taxCompliant).
    assert "... on Person { idNumber annualIncome } }" in first["query"]


def replying(payload: Any) -> Starlette:
    async def endpoint(request: Request) -> Response:
        keys = orjson.loads(await request.body()).get("variables", {}).get("representations", [])
        content = payload(keys) if callable(payload) else payload
        return Response(orjson.dumps(content), media_type="application/json")

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])


LEAK = "SUBGRAPH-MESSAGE-MUST-NOT-LEAK"
FAULTS = {
    "errors": {
        "data": {"_entities": [None]},
        "errors": [{"message": LEAK, "extensions": {"code": "FORBIDDEN"}}],
    },
    "entities of another length": lambda keys: {"data": {"_entities": [None] * (len(keys) + 1)}},
    "a value of another type": lambda keys: {
        "data": {"_entities": [{"idNumber": key["idNumber"], "annualIncome": LEAK} for key in keys]}
    },
    "an entity for another key": lambda keys: {
        "data": {"_entities": [{"idNumber": "110101190001010000", "annualIncome": 1} for _ in keys]}
    },
    "no data": {"errors": None},
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_subgraph_that_answers_wrongly_fails_its_own_fields_only(
    sqlite_apps: AppFactory, demo_dir: Path, subgraph_catalog: Path, fault: str
) -> None:
    api = Counted(replying(FAULTS[fault]))
    with serving(api) as url:
        _, client = await sqlite_apps(through(f"{url}/graphql", demo_dir), catalog=subgraph_catalog)
        response = await ask_for_income(client)
    only_taxation_failed(response)
    assert LEAK not in response.text and SERVICE_TOKEN not in response.text
    assert api.requests == 1


async def test_a_subgraph_that_refuses_the_platform_s_token_fails_its_fields_only(
    sqlite_apps: AppFactory, demo_dir: Path, subgraph_catalog: Path, taxation_subgraph: Server
) -> None:
    _, client = await sqlite_apps(
        through(f"{taxation_subgraph.url}/graphql", demo_dir, secret="not-a-token"), catalog=subgraph_catalog
    )
    response = await ask_for_income(client)
    only_taxation_failed(response)
    assert "not-a-token" not in response.text


def test_a_subgraph_department_cannot_serve_lookups_and_is_told_so(tmp_path: Path) -> None:
    market = yaml.safe_load(
        (Path(__file__).parents[2] / "govgraph/demo/catalog/departments/market_regulation.yaml").read_text()
    )
    market["source"] = {
        "kind": "graphql",
        "url": "http://127.0.0.1:9/graphql",
        "tables": {
            "enterprises": {
                "type": "Enterprise",
                "key": "creditCode",
                "columns": {
                    column: column
                    for column in (
                        "uniscid",
                        "entname",
                        "regstate",
                        "estdate",
                        "regcap",
                        "opscope",
                        "abnormal",
                        "lerep_id_no",
                    )
                },
            }
        },
    }
    path = tmp_path / "market_regulation.yaml"
    path.write_text(yaml.safe_dump(market, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError) as refused:
        load_catalog(catalog_with(tmp_path, path, "market_regulation"), env={})
    assert "cannot serve lookups yet" in str(refused.value) and "Person.enterprises" in str(refused.value)


def quick(catalog: Path, timeout: float) -> Path:
    """The catalog with the subgraph department's timeout shortened, so a slow one is met quickly."""
    path = catalog / "departments" / "taxation.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["source"]["timeout"] = timeout
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return catalog


async def slow_answer(request: Request) -> Response:
    await asyncio.sleep(2)  # past the 0.5 s timeout, short enough for the server to stop promptly
    return Response(b"{}", media_type="application/json")


@pytest.mark.parametrize("fault", ["down", "slower than its timeout"])
async def test_a_subgraph_that_is_down_or_slow_fails_its_own_fields_only(
    sqlite_apps: AppFactory, demo_dir: Path, subgraph_catalog: Path, fault: str
) -> None:
    slow = Counted(Starlette(routes=[Route("/graphql", slow_answer, methods=["POST"])]))
    with serving(slow) as url:
        if fault == "down":
            with serving(replying({})) as gone:
                pass  # nothing listens there any more
            url = gone
        _, client = await sqlite_apps(
            through(f"{url}/graphql", demo_dir), catalog=quick(subgraph_catalog, 0.5)
        )
        response = await ask_for_income(client)
    body = only_taxation_failed(response)
    expected = (
        "department taxation is unreachable (ConnectError)"
        if fault == "down"
        else ("department taxation is timed out after 0.5s")
    )
    assert body["errors"][0]["message"] == expected
    if fault != "down":
        assert slow.requests == 1, "a timeout is not retried: the time is spent"
