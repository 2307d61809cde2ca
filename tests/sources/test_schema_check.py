"""The sources checked against the catalog: `govgraph catalog check --sources`, /readyz and the log name a
misspelt column by its file and key path, on SQLite and PostgreSQL; the audit store is part of readiness, and
creates its PostgreSQL database when it may."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from govgraph import Settings, create_app
from govgraph.audit.store import AuditStore
from govgraph.catalog.loader import load_catalog
from govgraph.catalog.specs import GraphQLSourceSpec
from govgraph.cli import main
from govgraph.demo.golden import ZHANG_WEI
from govgraph.errors import AuditStoreError
from govgraph.settings import DEMO_CATALOG
from govgraph.sources.graphql import GraphQLSource
from govgraph.sources.schema_check import check_department
from tests.apis import TAX, catalog_with
from tests.auth_helpers import token
from tests.conftest import AppFactory, postgres_environ, require_service, sqlite_environ

MISSPELT = (
    "departments/taxation.yaml: entities.Person.fields.annualIncome.column: "
    "no such column annual_incme in table individual_taxpayers; did you mean annual_income?"
)
INCOME = "query($id: IdNumber!) { person(idNumber: $id) { name annualIncome taxCompliant } }"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SUBGRAPH_FILE = Path(__file__).parents[2] / "govgraph" / "demo" / "apis" / "taxation-graphql.yaml"
SUBGRAPH_URL = "http://taxation.test/graphql"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def misspelt_catalog(tmp_path: Path) -> Path:
    """The demo catalog with taxation's ``annual_income`` misspelt ``annual_incme``."""
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    taxation = catalog / "departments" / "taxation.yaml"
    text = taxation.read_text(encoding="utf-8")
    assert text.count("column: annual_income") == 1
    taxation.write_text(text.replace("column: annual_income", "column: annual_incme"), encoding="utf-8")
    return catalog


def check(catalog: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["catalog", "check", "--sources", str(catalog)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


# --- govgraph catalog check --sources ---------------------------------------------------------------


def test_the_demo_catalog_passes_against_the_sqlite_city(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))

    status, output = check(DEMO_CATALOG, capsys)

    assert status == 0, output
    assert "source ok: taxation (tables and columns)" in output
    assert "sources ok: 6 departments" in output


def test_a_misspelt_column_is_named_by_file_key_path_and_column_on_sqlite(
    demo_dir: Path,
    misspelt_catalog: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))
    assert main(["catalog", "check", str(misspelt_catalog)]) == 0, "the catalog alone cannot know"
    capsys.readouterr()

    status, output = check(misspelt_catalog, capsys)

    assert status == 1
    assert f"error: catalog/{MISSPELT}" in output
    assert "(it has: annual_income, bank_account, tax_compliant, taxpayer_id_no)" in output
    assert "source ok: civil_affairs" in output
    assert "sources: 1 of 6 departments not ready" in output


def test_sqlite_s_loose_types_are_tolerated_but_text_read_as_an_int_is_not(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    city = tmp_path / "city"
    shutil.copytree(demo_dir, city)
    with sqlite3.connect(city / "taxation.db") as connection:
        # CREATE TABLE ... AS declares each column by its expression's affinity: TEXT, NUM (the boolean).
        connection.executescript(
            """
            CREATE TABLE loose AS SELECT taxpayer_id_no, CAST(annual_income AS TEXT) AS annual_income,
                tax_compliant, bank_account FROM individual_taxpayers;
            DROP TABLE individual_taxpayers;
            ALTER TABLE loose RENAME TO individual_taxpayers;
            """
        )
    with sqlite3.connect(city / "public_security.db") as connection:
        connection.executescript(
            """
            CREATE TABLE loose AS SELECT resident_id, full_name, sex, CAST(birth_date AS TEXT) AS birth_date,
                ethnic_group, hukou_address, household_no, deceased,
                CAST(date_of_death AS TEXT) AS date_of_death, criminal_record FROM residents;
            DROP TABLE residents;
            ALTER TABLE loose RENAME TO residents;
            """
        )
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(city))

    status, output = check(DEMO_CATALOG, capsys)

    assert status == 1
    assert (
        "catalog/departments/taxation.yaml: entities.Person.fields.annualIncome.column: column "
        "individual_taxpayers.annual_income is TEXT in the database, but the catalog's Int needs an integer, "
        "numeric or boolean column"
    ) in output
    assert "source ok: public_security" in output, "a Date in a TEXT column is how SQLite keeps dates"
    assert "tax_compliant" not in output, "a Boolean in a NUMERIC column is how SQLite keeps booleans"


def test_a_department_that_cannot_be_reached_is_one_line_without_its_secret(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv(
        "GOVGRAPH_TAXATION_URL", f"postgresql+asyncpg://officer:s3cret@127.0.0.1:{closed_port()}/taxation"
    )

    status, output = check(DEMO_CATALOG, capsys)

    assert status == 1
    problems = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(problems) == 1
    assert problems[0].startswith(
        "error: catalog/departments/taxation.yaml: source.url: department taxation cannot be reached: "
    )
    assert "s3cret" not in output and "officer" not in output and "postgresql" not in output


@pytest.mark.postgres
def test_a_misspelt_column_is_named_on_postgresql_and_the_demo_passes(
    postgres_demo_url: str,
    misspelt_catalog: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in postgres_environ(postgres_demo_url).items():
        monkeypatch.setenv(name, value)

    status, output = check(DEMO_CATALOG, capsys)
    assert status == 0, output
    assert "sources ok: 6 departments" in output

    status, output = check(misspelt_catalog, capsys)
    assert status == 1
    assert f"error: catalog/{MISSPELT}" in output


@pytest.mark.postgres
def test_a_text_column_read_as_an_int_is_a_problem_on_postgresql(
    postgres_demo_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    taxation = catalog / "departments" / "taxation.yaml"
    text = taxation.read_text(encoding="utf-8")
    rating = "      taxCreditRating:\n        type: String\n"
    assert text.count(rating) == 1
    taxation.write_text(text.replace(rating, rating.replace("String", "Int")), encoding="utf-8")
    for name, value in postgres_environ(postgres_demo_url).items():
        monkeypatch.setenv(name, value)

    status, output = check(catalog, capsys)

    assert status == 1
    assert (
        "catalog/departments/taxation.yaml: entities.Enterprise.fields.taxCreditRating.column: column "
        "corporate_taxpayers.credit_rating is TEXT in the database, but the catalog's Int needs an integer "
        "or numeric column"
    ) in output


# --- /readyz and the log ----------------------------------------------------------------------------


async def test_readyz_reports_the_misspelt_department_and_the_log_says_what_failed(
    sqlite_apps: AppFactory, demo_dir: Path, misspelt_catalog: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, client = await sqlite_apps(sqlite_environ(demo_dir), catalog=misspelt_catalog)

    ready = await client.get("/readyz")

    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    taxation = body["departments"]["taxation"]
    assert taxation["status"] == "misconfigured"
    assert any(problem.startswith(f"catalog/{MISSPELT}") for problem in taxation["problems"])
    others = {name: answer["status"] for name, answer in body["departments"].items() if name != "taxation"}
    assert set(others.values()) == {"ok"} and len(others) == 5
    assert body["audit"] == {"status": "ok"}
    assert "sqlite" not in ready.text and str(demo_dir) not in ready.text

    with caplog.at_level(logging.WARNING, logger="govgraph.sources"):
        response = await client.post(
            "/graphql", json={"query": INCOME, "variables": {"id": ZHANG_WEI}}, headers=TAX
        )
    errors = {tuple(error["path"]): error["extensions"] for error in response.json()["errors"]}
    assert errors[("person", "annualIncome")] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}
    failures = [
        record.getMessage()
        for record in caplog.records
        if "department taxation failed" in record.getMessage()
    ]
    assert failures, "the failure is logged"
    for line in failures:
        assert "no such column: annual_incme" in line
        assert ZHANG_WEI not in line and "[parameters" not in line and "SELECT" not in line


@pytest.mark.postgres
async def test_readyz_reports_the_misspelt_department_on_postgresql(
    sqlite_apps: AppFactory, postgres_demo_url: str, misspelt_catalog: Path
) -> None:
    _, client = await sqlite_apps(postgres_environ(postgres_demo_url), catalog=misspelt_catalog)

    ready = await client.get("/readyz")

    assert ready.status_code == 503
    departments = ready.json()["departments"]
    assert departments["taxation"]["status"] == "misconfigured"
    assert any(problem.startswith(f"catalog/{MISSPELT}") for problem in departments["taxation"]["problems"])
    assert {departments[name]["status"] for name in departments if name != "taxation"} == {"ok"}
    assert "postgres@" not in ready.text


@asynccontextmanager
async def app_with_audit(
    audit_url: str, environ: dict[str, str], tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(audit_url=audit_url, audit_spool=tmp_path / f"{uuid.uuid4().hex[:8]}.jsonl")
    application = create_app(settings, environ=environ)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://govgraph.test"
        ) as client,
    ):
        yield client


async def test_an_unreachable_audit_store_makes_readyz_503_with_its_problem_and_no_secret(
    demo_dir: Path, tmp_path: Path
) -> None:
    audit_url = f"postgresql+asyncpg://auditor:s3cret@127.0.0.1:{closed_port()}/govgraph_audit"
    async with app_with_audit(audit_url, sqlite_environ(demo_dir), tmp_path) as client:
        ready = await client.get("/readyz")

    assert ready.status_code == 503
    body = ready.json()
    assert body["audit"]["status"] == "unavailable"
    assert body["audit"]["problem"].startswith("audit store: ")
    assert "Connect call failed" in body["audit"]["problem"] or "refused" in body["audit"]["problem"]
    assert {answer["status"] for answer in body["departments"].values()} == {"ok"}
    assert "s3cret" not in ready.text and "auditor" not in ready.text and "postgresql" not in ready.text


# --- the audit store's PostgreSQL database ----------------------------------------------------------


async def _admin(statement: str) -> Any:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        return await connection.fetch(statement)
    finally:
        await connection.close()


@pytest.fixture
def audit_database_name() -> Iterator[str]:
    """A name no database has yet; whatever the test creates under it is dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"govgraph_audit_x_{uuid.uuid4().hex[:10]}"
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def role_without_createdb() -> Iterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    role = f"govgraph_nocreate_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
    yield role
    asyncio.run(_admin(f'DROP ROLE IF EXISTS "{role}"'))


@pytest.mark.postgres
async def test_the_audit_store_creates_its_missing_postgresql_database(audit_database_name: str) -> None:
    store = AuditStore(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{audit_database_name}")
    await store.open()
    try:
        await store.check()
        assert await store.count() == 0
    finally:
        await store.close()
    rows = await _admin(f"SELECT 1 FROM pg_database WHERE datname = '{audit_database_name}'")
    assert len(rows) == 1


@pytest.mark.postgres
async def test_a_database_it_may_not_create_is_said_with_the_statement_to_run(
    audit_database_name: str, role_without_createdb: str, demo_dir: Path, tmp_path: Path
) -> None:
    audit_url = f"postgresql+asyncpg://{role_without_createdb}:s3cret@127.0.0.1:5432/{audit_database_name}"
    expected = (
        f'audit store: database "{audit_database_name}" does not exist and could not be created '
        f'(permission denied); create it with: CREATE DATABASE "{audit_database_name}";'
    )
    store = AuditStore(audit_url)
    try:
        with pytest.raises(AuditStoreError) as refused:
            await store.open()
    finally:
        await store.close()
    assert str(refused.value) == expected

    async with app_with_audit(audit_url, sqlite_environ(demo_dir), tmp_path) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["audit"] == {"status": "unavailable", "problem": expected}
    assert "s3cret" not in ready.text


@pytest.mark.postgres
def test_the_cli_says_what_to_create_too(
    audit_database_name: str, role_without_createdb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+asyncpg://{role_without_createdb}@127.0.0.1:5432/{audit_database_name}"

    assert main(["audit", "verify", "--url", url]) != 0

    assert f'create it with: CREATE DATABASE "{audit_database_name}";' in capsys.readouterr().err


# --- departments behind services --------------------------------------------------------------------

SDL = """
type Query { _service: _Service! }
type _Service { sdl: String }
type Person @key(fields: "idNumber") { idNumber: String! annualIncome: Int taxCompliant: Boolean }
type Enterprise @key(fields: "creditCode") { creditCode: String! %s: String taxArrears: Float }
"""


def subgraph(sdl: str | None) -> Starlette:
    """A subgraph that answers ``{ __typename }`` and, when ``sdl`` is given, ``_service { sdl }``."""

    async def endpoint(request: Request) -> JSONResponse:
        query = orjson.loads(await request.body())["query"]
        if "_service" not in query:
            return JSONResponse({"data": {"__typename": "Query"}})
        if sdl is None:
            return JSONResponse({"errors": [{"message": "Cannot query field '_service' on type 'Query'."}]})
        return JSONResponse({"data": {"_service": {"sdl": sdl}}})

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])


@pytest.mark.parametrize(
    ("sdl", "status", "said"),
    [
        (SDL % "taxCreditRating", "ok", "subgraph SDL"),
        (
            SDL % "taxCreditGrade",
            "misconfigured",
            "departments/taxation.yaml: source.tables.corporate_taxpayers.columns.credit_rating: the subgraph's "
            "type Enterprise has no field taxCreditRating; did you mean taxCreditGrade?",
        ),
        (None, "ok", "reachability only (the subgraph does not publish its SDL)"),
    ],
)
async def test_a_graphql_department_s_paths_are_looked_up_in_its_sdl(
    tmp_path: Path, demo_dir: Path, sdl: str | None, status: str, said: str
) -> None:
    directory = catalog_with(tmp_path, SUBGRAPH_FILE, "taxation")
    catalog = load_catalog(
        directory, env={**sqlite_environ(demo_dir), "GOVGRAPH_TAXATION_GRAPHQL": SUBGRAPH_URL}
    )
    department = catalog.departments["taxation"]
    assert isinstance(department.source, GraphQLSourceSpec)
    source = GraphQLSource(
        "taxation",
        department.source,
        department.tables,
        secret="platform-token",
        transport=httpx.ASGITransport(app=subgraph(sdl)),
    )
    await source.open()
    try:
        report = await check_department(catalog, department, source, connect_timeout=5)
    finally:
        await source.close()

    assert report.status == status
    assert said in (report.checked if status == "ok" else report.problems[0])


async def test_the_demo_subgraph_s_own_sdl_holds_every_path_its_department_file_names(
    sqlite_apps: AppFactory, tmp_path: Path, demo_dir: Path
) -> None:
    subgraph_app, _ = await sqlite_apps(sqlite_environ(demo_dir))
    directory = catalog_with(tmp_path, SUBGRAPH_FILE, "taxation")
    catalog = load_catalog(
        directory, env={**sqlite_environ(demo_dir), "GOVGRAPH_TAXATION_GRAPHQL": SUBGRAPH_URL}
    )
    department = catalog.departments["taxation"]
    assert isinstance(department.source, GraphQLSourceSpec)
    source = GraphQLSource(
        "taxation",
        department.source,
        department.tables,
        secret=token("tax_officer", "tax-audit", subject="platform"),
        transport=httpx.ASGITransport(app=subgraph_app),
    )
    await source.open()
    try:
        report = await check_department(catalog, department, source, connect_timeout=5)
    finally:
        await source.close()

    assert (report.status, report.checked) == ("ok", "subgraph SDL")
