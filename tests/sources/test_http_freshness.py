"""A department API's own word on freshness is heeded: ``Cache-Control`` decides how long its rows are kept
(instead of the catalog's frequency), and an answer with an ``ETag`` is revalidated, not fetched again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govgraph.catalog.loader import load_catalog
from govgraph.demo.api import department_api
from govgraph.demo.golden import ZHANG_WEI
from govgraph.settings import DEMO_CATALOG
from govgraph.sources.upstream import shared_max_age
from tests.apis import CHANGES_SECRET, catalog_with, serving
from tests.auth_helpers import bearer
from tests.conftest import AppFactory, graphql

API_FILE = Path(__file__).parents[2] / "govgraph" / "demo" / "apis" / "taxation.yaml"
TOKEN = "freshness-test-token"
QUERY = "query($id: IdNumber!) { person(idNumber: $id) { annualIncome } }"
TAX = bearer("tax_officer", "tax-audit")


class Validating:
    """The department's API behind an HTTP layer that sends ``Cache-Control`` and ``ETag`` and answers
    ``If-None-Match`` with 304; counts full answers and 304s."""

    def __init__(self, app: ASGIApp, cache_control: str) -> None:
        self.app = app
        self.cache_control = cache_control
        self.full = 0
        self.not_modified = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: dict[str, Message] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["message"] = message
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        asked = dict(scope["headers"]).get(b"if-none-match", b"").decode()
        headers = [(b"cache-control", self.cache_control.encode()), (b"etag", etag.encode())]
        if asked == etag:
            self.not_modified += 1
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        self.full += 1
        start = started["message"]
        await send({**start, "headers": [*start["headers"], *headers]})
        await send({"type": "http.response.body", "body": body})


def taxation_api(demo_dir: Path, cache_control: str) -> Validating:
    tables = load_catalog(DEMO_CATALOG, env={}).departments["taxation"].tables
    return Validating(department_api(demo_dir / "taxation.db", published=tables, token=TOKEN), cache_control)


@pytest.fixture
def api_catalog(tmp_path: Path) -> Path:
    return catalog_with(tmp_path, API_FILE, "taxation")


def environ(url: str, demo_dir: Path) -> dict[str, str]:
    return {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_TAXATION_API": url,
        "GOVGRAPH_TAXATION_API_TOKEN": TOKEN,
        "GOVGRAPH_TAXATION_CHANGES_SECRET": CHANGES_SECRET,
    }


@pytest.fixture
def served(demo_dir: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Validating]]:
    api = taxation_api(demo_dir, request.param)
    with serving(api) as url:
        yield url, api


@pytest.mark.parametrize("served", ["public, max-age=5"], indirect=True)
async def test_rows_are_kept_as_long_as_the_department_says_not_as_long_as_the_catalog_does(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, served: tuple[str, Validating]
) -> None:
    url, api = served
    app, client = await sqlite_apps(environ(url, demo_dir), catalog=api_catalog)
    now = [app.state.cache.clock()]
    app.state.cache.clock = lambda: now[0]
    first = await graphql(client, QUERY, {"id": ZHANG_WEI}, TAX)
    second = await graphql(client, QUERY, {"id": ZHANG_WEI}, TAX)
    assert first["data"] == second["data"] == {"person": {"annualIncome": 186000}}
    assert api.full == 1, "kept within the department's five seconds"
    taxation = next(part for part in first["extensions"]["freshness"] if part["department"] == "taxation")
    assert taxation["maxAge"] == 5, "the response says the department's word, not the catalog's month"
    now[0] += 6  # a month is what the catalog allows taxation; the department said five seconds
    await graphql(client, QUERY, {"id": ZHANG_WEI}, TAX)
    assert api.full + api.not_modified == 2, "asked again once its word ran out"


@pytest.mark.parametrize("served", ["no-store"], indirect=True)
async def test_rows_the_department_says_not_to_store_are_asked_for_every_time(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, served: tuple[str, Validating]
) -> None:
    url, api = served
    _, client = await sqlite_apps(environ(url, demo_dir), catalog=api_catalog)
    for _ in range(3):
        body = await graphql(client, QUERY, {"id": ZHANG_WEI}, TAX)
        assert body["data"] == {"person": {"annualIncome": 186000}}
    assert (api.full, api.not_modified) == (3, 0), "nothing kept: not the rows, not the answer for its ETag"


@pytest.mark.parametrize("served", ["no-cache"], indirect=True)
async def test_an_answer_with_an_etag_is_revalidated_and_served_from_the_304(
    sqlite_apps: AppFactory, demo_dir: Path, api_catalog: Path, served: tuple[str, Validating]
) -> None:
    url, api = served
    _, client = await sqlite_apps(environ(url, demo_dir), catalog=api_catalog)
    answers = [await graphql(client, QUERY, {"id": ZHANG_WEI}, TAX) for _ in range(3)]
    assert all(answer["data"] == {"person": {"annualIncome": 186000}} for answer in answers)
    assert (api.full, api.not_modified) == (1, 2), "asked each time (no-cache), sent in full once"


def test_cache_control_is_read_as_a_shared_cache_reads_it() -> None:
    assert shared_max_age(None) is None
    assert shared_max_age("public") is None
    assert shared_max_age("max-age=60") == 60
    assert shared_max_age("max-age=60, s-maxage=10") == 10
    assert shared_max_age("private, max-age=60") == 0
    assert shared_max_age("no-cache") == 0
    assert shared_max_age("no-store") == 0
    assert shared_max_age("max-age=abc") is None
