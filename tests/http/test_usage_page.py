"""``/usage`` over HTTP: for oversight only, charted from the audit store after real GraphQL requests.

The module's app has an audit store of its own (a SQLite file, or a fresh
PostgreSQL database on the postgres backend, so the aggregated queries run
on both), and the traffic below is all it holds: the page's counts are
exact.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from govgraph import create_app
from govgraph.audit.records import AuditRecord, EntityAccess, FieldDecision
from govgraph.demo.golden import EXAMPLE_TECH, ZHANG_WEI
from tests.auth_helpers import bearer, token
from tests.conftest import graphql, settings_for

EXTERNAL = re.compile(r"https?://")
AUDITOR = bearer("auditor", "oversight")
PERSON = '{ person(idNumber: "%s") { %s } }'
TRAFFIC = [
    # (role, purpose, query): six audited records, three of them with a field denied.
    (
        "window_clerk",
        "housing-subsidy",
        PERSON % (ZHANG_WEI, "name registeredAddress maritalStatus annualIncome"),
    ),
    ("window_clerk", "housing-subsidy", PERSON % (ZHANG_WEI, "registeredAddress annualIncome")),
    ("tax_officer", "tax-audit", PERSON % (ZHANG_WEI, "annualIncome taxCompliant")),
    ("civil_affairs_officer", "subsistence-review", PERSON % (ZHANG_WEI, "subsistenceAllowance { status }")),
    (
        "window_clerk",
        "business-startup",
        '{ enterprise(creditCode: "%s") { name insuredEmployees } }' % EXAMPLE_TECH,
    ),
    ("police_officer", "household-admin", PERSON % (ZHANG_WEI, "annualIncome")),
]
OLD = "Property.area"
"""Only in a record from 40 days ago: inside a 90-day window, outside the default 30."""


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        await connection.execute(statement, timeout=60)
    finally:
        await connection.close(timeout=10)


@pytest.fixture(scope="module")
async def dashboard(
    backend: str, environ: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    directory = tmp_path_factory.mktemp("usage-page")
    database = f"govgraph_pages_{uuid.uuid4().hex[:12]}"
    if backend == "postgres":
        await _postgres(f'CREATE DATABASE "{database}"')
        audit_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    else:
        audit_url = f"sqlite+aiosqlite:///{directory}/audit.db"
    app = create_app(settings_for(audit_url, directory / "spool.jsonl"), environ=environ)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test"
            ) as http,
        ):
            for role, purpose, query in TRAFFIC:
                await graphql(http, query, headers=bearer(role, purpose))
            await app.state.audit_writer.flush()
            old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=40)
            await app.state.audit_store.append(
                [
                    AuditRecord(
                        request_id=uuid.uuid4().hex,
                        occurred_at=old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        subject="officer-old",
                        department="civil_affairs",
                        roles=("civil_affairs_officer",),
                        purpose="subsistence-review",
                        operation_name=None,
                        document_hash="0" * 64,
                        client_address=None,
                        entities=(EntityAccess("Property", "natural_resources", ("P-1",), "live"),),
                        fields=(FieldDecision(OLD, "natural_resources", "conditional", "read"),),
                    )
                ]
            )
            yield http
    finally:
        if backend == "postgres":
            await _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "script-src 'none'" in response.headers["content-security-policy"]


def assert_no_usage(text: str) -> None:
    for leaked in (
        "<svg",
        "data-provider",
        "data-coordinate",
        "Person.",
        "audited records",
        "public_security",
        "human_resources",
    ):
        assert leaked not in text, leaked


def denial_rows(page: str) -> list[tuple[str, str, str, int]]:
    table = re.search(r'<table class="denials">(.*?)</table>', page, re.S)
    assert table is not None
    return [
        (coordinate, roles, department, int(count))
        for coordinate, roles, department, count in re.findall(
            r'<tr data-coordinate="[^"]+"><td><code>([^<]+)</code></td><td>([^<]+)</td><td>([^<]+)</td>'
            r'<td class="n">(\d+)</td></tr>',
            table.group(1),
        )
    ]


def matrix(page: str) -> dict[tuple[str, str], int]:
    table = re.search(r'<table class="matrix">(.*?)</table>', page, re.S)
    assert table is not None
    cells = {}
    for provider, row in re.findall(r'<tr data-provider="([^"]+)">(.*?)</tr>', table.group(1), re.S):
        for consumer, count in re.findall(r'data-consumer="([^"]+)">(\d+)</td>', row):
            cells[(provider, consumer)] = int(count)
    return cells


async def test_anonymous_gets_401_and_no_usage(dashboard: httpx.AsyncClient) -> None:
    response = await dashboard.get("/usage?days=7")
    assert response.status_code == 401
    assert_page_headers(response)
    assert '<form method="post" action="/usage">' in response.text
    assert 'name="days" type="number" min="1" max="366" value="7"' in response.text, "the window is kept"
    assert_no_usage(response.text)


@pytest.mark.parametrize(
    "headers",
    [
        bearer("window_clerk", "housing-subsidy"),
        bearer("tax_officer", "tax-audit"),
        bearer("auditor"),  # the auditor's grant is for purpose oversight only
        bearer("auditor", "oversight", department="taxation"),  # not held in that department
        bearer("citizen", subject=ZHANG_WEI),
    ],
)
async def test_anyone_but_oversight_gets_403_and_no_number(
    dashboard: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await dashboard.get("/usage", headers=headers)
    assert response.status_code == 403
    assert_page_headers(response)
    assert "Query.usage" in response.text
    assert_no_usage(response.text)
    main = response.text.split("<main>", 1)[1]
    assert not re.search(r"<b>\d+</b>|>\d+</td>", main), "no count of anything"


async def test_the_auditor_sees_the_real_traffic(dashboard: httpx.AsyncClient) -> None:
    response = await dashboard.get("/usage", headers=AUDITOR)
    assert response.status_code == 200
    assert_page_headers(response)
    page = response.text
    assert "<b>6</b> audited records, <b>3</b> with a field denied" in page
    assert page.count('<svg role="img"') == 4, "over time, top fields, top purposes, denials"
    assert "Records per day" in page

    fields = page.split("<h2>Top 10 fields</h2>", 1)[1].split("</svg>", 1)[0]
    for coordinate in ("Person.registeredAddress", "Person.maritalStatus", "Person.taxCompliant"):
        assert f">{coordinate}</text>" in fields, coordinate
    assert "<title>Person.registeredAddress: 2</title>" in fields, "served to the clerk twice"
    assert "<title>Person.annualIncome: 1</title>" in fields, "read once (the tax officer); denied twice"
    purposes = page.split("<h2>Top 10 purposes</h2>", 1)[1].split("</svg>", 1)[0]
    assert "<title>housing-subsidy: 2</title>" in purposes and "<title>tax-audit: 1</title>" in purposes

    cells = matrix(page)
    assert cells[("public_security", "government_service_center")] == 2
    assert cells[("taxation", "taxation")] == 1
    assert cells[("civil_affairs", "civil_affairs")] == 1
    assert cells[("human_resources", "government_service_center")] == 1

    assert denial_rows(page) == [
        ("Person.annualIncome", "window_clerk", "government_service_center", 2),
        ("Person.annualIncome", "police_officer", "public_security", 1),
    ]
    assert OLD not in page, "40 days ago is outside the default 30-day window"


async def test_the_window_bounds_what_is_counted(dashboard: httpx.AsyncClient) -> None:
    wide = (await dashboard.get("/usage?days=90", headers=AUDITOR)).text
    assert "<b>7</b> audited records" in wide and f">{OLD}</text>" in wide
    assert matrix(wide)[("natural_resources", "civil_affairs")] == 1
    today = (await dashboard.get("/usage?days=1", headers=AUDITOR)).text
    assert "Records per hour" in today and "<b>6</b> audited records" in today


async def test_a_posted_token_and_window_open_the_dashboard(dashboard: httpx.AsyncClient) -> None:
    response = await dashboard.post("/usage", data={"token": token("auditor", "oversight"), "days": "90"})
    assert response.status_code == 200
    assert "<b>7</b> audited records" in response.text


@pytest.mark.parametrize("days", ["abc", "0", "367", "1.5", "-1", "1e3", "٣", " ", "99999999"])
async def test_a_bad_window_is_a_400_saying_what_is_allowed(dashboard: httpx.AsyncClient, days: str) -> None:
    response = await dashboard.get("/usage", params={"days": days}, headers=AUDITOR)
    assert response.status_code == 400, days
    assert_page_headers(response)
    assert "days must be a whole number of days from 1 to 366" in response.text
    assert_no_usage(response.text)


async def test_days_given_twice_is_a_400(dashboard: httpx.AsyncClient) -> None:
    response = await dashboard.get("/usage?days=7&days=30", headers=AUDITOR)
    assert response.status_code == 400 and "more than once" in response.text


async def test_input_echoed_in_an_error_is_escaped(dashboard: httpx.AsyncClient) -> None:
    response = await dashboard.get("/usage", params={"days": '<script>alert("x")</script>'}, headers=AUDITOR)
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(&quot;x&quot;)" in response.text
    form = await dashboard.get("/usage", params={"days": '"><script>'})
    assert form.status_code == 401
    assert "script" not in form.text and 'value="30"' in form.text, (
        "a bad window is not carried into the form"
    )


async def test_no_external_address_and_no_script(dashboard: httpx.AsyncClient) -> None:
    for response in (
        await dashboard.get("/usage"),
        await dashboard.get("/usage", headers=bearer("window_clerk", "housing-subsidy")),
        await dashboard.get("/usage?days=90", headers=AUDITOR),
    ):
        assert not EXTERNAL.findall(response.text), response.status_code
        assert "<script" not in response.text
