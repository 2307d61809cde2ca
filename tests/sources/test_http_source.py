"""A department behind a JSON API answers as its database did; whatever goes wrong upstream is that department's alone.

The demo's taxation department is served by ``govgraph.demo.api`` (a real
Starlette app on a free port, reading taxation.db) and configured by
``govgraph/demo/apis/taxation.yaml`` in place of its SQL file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govgraph import Settings
from govgraph.catalog.loader import load_catalog
from govgraph.catalog.specs import HttpSourceSpec
from govgraph.demo.api import department_api
from govgraph.demo.golden import EXAMPLE_TECH, LI_NA, ZHANG_WEI
from govgraph.errors import CatalogError, ListingUnsupported
from govgraph.settings import DEMO_CATALOG
from govgraph.sources.breaker import BreakerSource, CircuitBreaker
from govgraph.sources.http import HttpSource
from tests.apis import CHANGES_SECRET, CORPUS, TAX, Counted, catalog_with, serving
from tests.conftest import AppFactory, graphql

DEMO_TABLES = {
    department.id: department.tables for department in load_catalog(DEMO_CATALOG, env={}).departments.values()
}
API_FILE = Path(__file__).parents[2] / "govgraph" / "demo" / "apis" / "taxation.yaml"
TOKEN = "demo-taxation-api-token"
LEAK = "UPSTREAM-BODY-MUST-NOT-LEAK"


@pytest.fixture
def taxation_api(demo_dir: Path) -> Iterator[tuple[str, Counted]]:
    api = Counted(department_api(demo_dir / "taxation.db", published=DEMO_TABLES["taxation"], token=TOKEN))
    with serving(api) as url:
        yield url, api


@pytest.fixture
def api_catalog(tmp_path: Path) -> Path:
    return catalog_with(tmp_path, API_FILE, "taxation")


def through(url: str, demo_dir: Path, token: str = TOKEN) -> dict[str, str]:
    return {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_API": url,
        "GOVGRAPH_TAXATION_API_TOKEN": token,
        "GOVGRAPH_TAXATION_CHANGES_SECRET": CHANGES_SECRET,
    }


def answer(body: dict[str, Any]) -> dict[str, Any]:
    return {"data": body.get("data"), "errors": body.get("errors")}


def person_ids(demo_dir: Path, count: int) -> list[str]:
    with sqlite3.connect(demo_dir / "public_security.db") as connection:
        return [row[0] for row in connection.execute("SELECT resident_id FROM residents LIMIT ?", (count,))]


async def test_the_api_department_answers_every_query_as_its_database_did(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, taxation_api: tuple[str, Counted]
) -> None:
    url, api = taxation_api
    _, database = await sqlite_apps({"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    _, through_api = await sqlite_apps(through(url, demo_dir), catalog=api_catalog)
    ids = person_ids(demo_dir, 600)
    corpus = [
        *CORPUS,
        (
            """query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber annualIncome taxCompliant } }""",
            {"ids": ids},
            TAX,
        ),
    ]
    for query, variables, headers in corpus:
        expected = answer(await graphql(database, query, variables, headers))
        assert answer(await graphql(through_api, query, variables, headers)) == expected, query
    assert api.requests >= len(corpus), "every answer came through the API"
    listed = await graphql(through_api, corpus[-1][0], corpus[-1][1], TAX)
    assert sum(person["annualIncome"] is not None for person in listed["data"]["persons"]) > 100


async def test_keys_go_in_batches_of_the_configured_size(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, taxation_api: tuple[str, Counted]
) -> None:
    url, api = taxation_api
    _, client = await sqlite_apps(through(url, demo_dir), catalog=api_catalog)
    ids = person_ids(demo_dir, 1000)
    before = api.requests
    body = await graphql(
        client, "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { annualIncome } }", {"ids": ids}, TAX
    )
    assert "errors" not in body
    assert api.requests - before == 2, "1000 keys in batches of 500 (max_keys_per_request)"


def failing(answer: Any) -> Starlette:
    """An API that answers every call with ``answer(request)``: a Response, or a coroutine of one."""

    async def endpoint(request: Request) -> Response:
        result = answer(request)
        return await result if asyncio.iscoroutine(result) else result

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


async def asked_keys(request: Request) -> list[str]:
    return orjson.loads(await request.body())["keys"]


async def slow(request: Request) -> Response:
    await asyncio.sleep(5)
    return json({"data": []})


async def unasked(request: Request) -> Response:
    return json(
        {"data": [{"id": "110101190001010000", "attributes": {"annual_income": 1, "tax_compliant": True}}]}
    )


async def wrong_type(request: Request) -> Response:
    keys = await asked_keys(request)
    return json(
        {"data": [{"id": key, "attributes": {"annual_income": LEAK, "tax_compliant": True}} for key in keys]}
    )


FAULTS = {
    "HTTP 500": (lambda request: Response(LEAK, status_code=500), 1),
    "HTTP 503, retried once": (lambda request: Response(LEAK, status_code=503), 2),
    "malformed JSON": (
        lambda request: Response(b'{"data": [' + LEAK.encode(), media_type="application/json"),
        1,
    ),
    "another shape": (lambda request: json({"data": {"message": LEAK}}), 1),
    "a value of another type": (wrong_type, 1),
    "a key it was not asked for": (unasked, 1),
    "an oversized body": (lambda request: Response(b"[" + b" " * (9 * 1024 * 1024) + b"]"), 1),
    "slower than the timeout": (slow, 1),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_an_api_that_fails_fails_its_own_fields_only_and_nothing_of_its_body_leaks(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, fault: str
) -> None:
    respond, expected_requests = FAULTS[fault]
    api = Counted(failing(respond))
    with serving(api) as url:
        _, client = await sqlite_apps(through(url, demo_dir), catalog=api_catalog)
        response = await client.post(
            "/graphql",
            json={
                "query": CORPUS[1][0].replace("annualIncome", "name annualIncome"),
                "variables": {"id": ZHANG_WEI},
            },
            headers=TAX,
        )
    body = response.json()
    assert body["data"]["person"] == {"name": "张伟", "annualIncome": None, "taxCompliant": None}
    codes = {tuple(error["path"]): error["extensions"] for error in body["errors"]}
    assert codes[("person", "annualIncome")] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}
    assert LEAK not in response.text and TOKEN not in response.text
    assert api.requests == expected_requests


async def test_an_api_that_is_down_or_refuses_the_secret_fails_its_fields_only(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, taxation_api: tuple[str, Counted]
) -> None:
    url, _ = taxation_api
    query = """query($id: IdNumber!) { person(idNumber: $id) { name annualIncome } }"""
    with serving(failing(lambda request: json([]))) as gone:
        pass  # the port is free again: nothing listens there
    for environ in (through(gone, demo_dir), through(url, demo_dir, token="not-the-token")):
        _, client = await sqlite_apps(environ, catalog=api_catalog)
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"id": ZHANG_WEI}}, headers=TAX
        )
        body = response.json()
        assert body["data"]["person"] == {"name": "张伟", "annualIncome": None}
        assert body["errors"][0]["extensions"] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}
        assert "not-the-token" not in response.text and TOKEN not in response.text


def test_the_secret_must_be_set_and_is_never_shown(demo_dir: Path, api_catalog: Path, tmp_path: Path) -> None:
    from govgraph.server import build_sources

    catalog = load_catalog(api_catalog, env={"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    settings = Settings(audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db")
    with pytest.raises(CatalogError) as refused:
        build_sources(catalog, settings, environ={})
    assert "GOVGRAPH_TAXATION_API_TOKEN is not set" in str(refused.value)
    assert "taxation.yaml" in str(refused.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda source: source["tables"]["individual_taxpayers"]["columns"].pop("annual_income"),
            "source.tables.individual_taxpayers.columns.annual_income: missing",
        ),
        (
            lambda source: source["tables"].pop("corporate_taxpayers"),
            "source.tables.corporate_taxpayers: missing",
        ),
        (lambda source: source.update(url="ftp://taxation"), "source"),
        (
            lambda source: source["tables"]["individual_taxpayers"].update(
                lookups={"annual_income": {"path": "/no-key-here", "method": "GET"}}
            ),
            "lookups.annual_income.path: must hold {key} exactly once",
        ),
    ],
)
def test_an_api_department_file_that_does_not_say_where_things_are_is_refused_naming_the_key(
    tmp_path: Path, change: Any, problem: str
) -> None:
    document = yaml.safe_load(API_FILE.read_text(encoding="utf-8"))
    change(document["source"])
    broken = tmp_path / "taxation.yaml"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    catalog = catalog_with(tmp_path, broken, "taxation")
    with pytest.raises(CatalogError) as refused:
        load_catalog(catalog, env={})
    assert "taxation.yaml" in str(refused.value) and problem in str(refused.value)


def test_the_api_file_declares_the_same_fields_as_the_database_file() -> None:
    """The same fields, answered alike; only the API reports its changes, so taxCompliant is subscribable."""
    api = yaml.safe_load(API_FILE.read_text(encoding="utf-8"))
    database = yaml.safe_load((DEMO_CATALOG / "departments" / "taxation.yaml").read_text(encoding="utf-8"))
    assert api["entities"]["Person"]["fields"]["taxCompliant"].pop("subscribable") is True
    assert api["entities"] == database["entities"]
    assert api["frequency"] == database["frequency"]


async def test_an_api_that_cannot_list_says_so_and_does_not_count_as_a_failure() -> None:
    spec = yaml.safe_load(API_FILE.read_text(encoding="utf-8"))["source"]
    source = HttpSource(
        "taxation", HttpSourceSpec.model_validate({**spec, "url": "http://127.0.0.1:9"}), {}, secret="x"
    )
    guarded = BreakerSource(source, CircuitBreaker("taxation", 1, 30.0))
    for _ in range(3):  # a failure would open the circuit after one
        with pytest.raises(ListingUnsupported) as refused:
            await guarded.scan("individual_taxpayers", "taxpayer_id_no", equals={}, after=None, limit=10)
        assert refused.value.extensions() == {"code": "LISTING_UNSUPPORTED", "department": "taxation"}
    assert "cannot list" in refused.value.message


async def test_a_lookup_goes_to_the_key_s_own_url(demo_dir: Path) -> None:
    """One-to-many lookups (a URL template per key) against the demo API over natural_resources' file."""
    spec = HttpSourceSpec.model_validate(
        {
            "kind": "http",
            "url": "http://placeholder",
            "tables": {
                "property_rights": {
                    "fetch": {"path": "/property_rights/bdcqzh"},
                    "lookups": {
                        "holder_id_no": {
                            "method": "GET",
                            "path": "/property_rights/holder_id_no/{key}",
                            "items": "data",
                        }
                    },
                    "columns": {
                        "bdcqzh": "attributes.bdcqzh",
                        "holder_id_no": "attributes.holder_id_no",
                        "share_pct": "attributes.share_pct",
                    },
                }
            },
        }
    )
    types = {"property_rights": {"bdcqzh": "String", "holder_id_no": "IdNumber", "share_pct": "Float"}}
    api = Counted(
        department_api(demo_dir / "natural_resources.db", published=DEMO_TABLES["natural_resources"])
    )
    with serving(api) as url:
        source = HttpSource("natural_resources", spec.model_copy(update={"url": url}), types)
        await source.open()
        try:
            found = await source.lookup(
                "property_rights", "holder_id_no", ("bdcqzh", "share_pct"), [ZHANG_WEI, LI_NA]
            )
        finally:
            await source.close()
    assert api.requests == 2, "one call per key"
    assert {row["share_pct"] for row in found[ZHANG_WEI]} == {50.0}
    assert [row["bdcqzh"] for row in found[ZHANG_WEI]] == [row["bdcqzh"] for row in found[LI_NA]]
    with sqlite3.connect(demo_dir / "natural_resources.db") as connection:
        expected = connection.execute(
            "SELECT count(*) FROM property_rights WHERE holder_id_no = ?", (ZHANG_WEI,)
        ).fetchone()[0]
    assert len(found[ZHANG_WEI]) == expected


async def test_keys_may_go_in_the_query_string_instead(
    sqlite_apps: AppFactory, demo_dir: Path, tmp_path: Path, taxation_api: tuple[str, Counted]
) -> None:
    url, api = taxation_api
    document = yaml.safe_load(API_FILE.read_text(encoding="utf-8"))
    for table in document["source"]["tables"].values():
        table["fetch"]["method"] = "GET"
    by_query = tmp_path / "taxation.yaml"
    by_query.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    _, database = await sqlite_apps({"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    _, through_api = await sqlite_apps(
        through(url, demo_dir), catalog=catalog_with(tmp_path / "get", by_query, "taxation")
    )
    query = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber annualIncome taxCompliant } }"
    ids = person_ids(demo_dir, 50)
    before = api.requests
    assert answer(await graphql(through_api, query, {"ids": ids}, TAX)) == answer(
        await graphql(database, query, {"ids": ids}, TAX)
    )
    assert api.requests - before == 1
    assert api.methods[before:] == ["GET"], "the keys went in the query string"


def natural_resources_api_file(directory: Path) -> Path:
    """The demo's real-estate registry behind the demo API: its lookups by URL template."""
    document = yaml.safe_load(
        (DEMO_CATALOG / "departments" / "natural_resources.yaml").read_text(encoding="utf-8")
    )
    tables = DEMO_TABLES["natural_resources"]

    def columns(table: str) -> dict[str, str]:
        return {column: f"attributes.{column}" for column in tables[table]}

    def by(table: str, column: str) -> dict[str, str]:
        return {"method": "GET", "path": f"/{table}/{column}/{{key}}", "items": "data"}

    document["source"] = {
        "kind": "http",
        "url": "${GOVGRAPH_NATURAL_RESOURCES_API}",
        "tables": {
            "real_estate_units": {
                "fetch": {"path": "/real_estate_units/bdcqzh", "items": "data"},
                "columns": columns("real_estate_units"),
            },
            "property_rights": {
                "fetch": {"path": "/property_rights/bdcqzh", "items": "data"},
                "lookups": {
                    match: by("property_rights", match) for match in ("holder_id_no", "holder_uscc", "bdcqzh")
                },
                "columns": columns("property_rights"),
            },
        },
    }
    for entity in document["entities"].values():  # this API reports no changes, so nothing is subscribable
        for spec in entity["fields"].values():
            spec.pop("subscribable", None)
    path = directory / "natural_resources.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


async def test_one_to_many_fields_through_an_api_s_url_templates_answer_as_the_database(
    sqlite_apps: AppFactory, demo_dir: Path, tmp_path: Path
) -> None:
    api = Counted(
        department_api(demo_dir / "natural_resources.db", published=DEMO_TABLES["natural_resources"])
    )
    query = """query($id: IdNumber!, $code: CreditCode!) {
      person(idNumber: $id) { name properties { certificateNo address area mortgaged owners { share person { name } } } }
      enterprise(creditCode: $code) { name properties { certificateNo usage } }
    }"""
    variables = {"id": ZHANG_WEI, "code": EXAMPLE_TECH}
    with serving(api) as url:
        catalog = catalog_with(tmp_path / "nr", natural_resources_api_file(tmp_path), "natural_resources")
        _, database = await sqlite_apps({"GOVGRAPH_DEMO_DIR": str(demo_dir)})
        _, through_api = await sqlite_apps(
            {"GOVGRAPH_DEMO_DIR": str(demo_dir), "GOVGRAPH_NATURAL_RESOURCES_API": url}, catalog=catalog
        )
        expected = answer(await graphql(database, query, variables, TAX))
        assert answer(await graphql(through_api, query, variables, TAX)) == expected
    assert expected["data"]["person"]["properties"], "the golden person owns property"
    assert any(method == "GET" for method in api.methods), "lookups went to their own URLs"
