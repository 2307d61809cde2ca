"""The accountable-sharing trail over HTTP: records, decisions, durability, oversight, citizens."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app
from govgraph.audit.store import AuditFilter, AuditStore
from govgraph.audit.tables import audit_records
from govgraph.settings import DEMO_CATALOG
from tests.auth_helpers import bearer
from tests.conftest import empty_postgres_database, graphql, require_service

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
CLERK_QUERY = """
query Clerk($id: IdNumber!) {
  person(idNumber: $id) { name registeredAddress maritalStatus annualIncome verify { annualIncome(lt: 60000) } }
}"""


async def records_after(app: Starlette, position: int) -> list[Any]:
    await app.state.audit_writer.flush()
    store: AuditStore = app.state.audit_store
    return [
        stored
        for stored in reversed(await store.query(AuditFilter(), 500, None))
        if stored.position > position
    ]


async def last_position(app: Starlette) -> int:
    await app.state.audit_writer.flush()
    newest = await app.state.audit_store.query(AuditFilter(), 1, None)
    return newest[0].position if newest else 0


def decisions(stored: Any) -> dict[str, str]:
    return {item.coordinate: item.decision for item in stored.record.fields}


async def test_a_sequence_of_requests_gives_exactly_the_expected_records(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    start = await last_position(app)

    clerk = await graphql(client, CLERK_QUERY, {"id": ZHANG_WEI}, bearer("window_clerk", "housing-subsidy"))
    tax = await graphql(
        client,
        "query Tax($id: IdNumber!) { person(idNumber: $id) { annualIncome properties { certificateNo } } }",
        {"id": ZHANG_WEI},
        bearer("tax_officer", "tax-audit"),
    )
    internal = await graphql(
        client,
        "query Internal($id: IdNumber!) { person(idNumber: $id) { name } }",
        {"id": LI_NA},
        bearer("police_officer"),
    )
    await graphql(client, '{ enterprise(creditCode: "%s") { name status } }' % EXAMPLE_TECH)
    anonymous = await graphql(
        client, "query Peek($id: IdNumber!) { person(idNumber: $id) { name } }", {"id": ZHANG_WEI}
    )

    records = {stored.record.request_id: stored for stored in await records_after(app, start)}
    expected_ids = [body["extensions"]["requestId"] for body in (clerk, tax, internal, anonymous)]
    assert sorted(records) == sorted(expected_ids), (
        "one record per non-public request, none for the public one"
    )

    clerk_record = records[clerk["extensions"]["requestId"]].record
    assert (clerk_record.subject, clerk_record.department, clerk_record.roles, clerk_record.purpose) == (
        "officer-window_clerk",
        "government_service_center",
        ("window_clerk",),
        "housing-subsidy",
    )
    assert clerk_record.operation_name == "Clerk"
    assert len(clerk_record.document_hash) == 64
    assert clerk_record.client_address is not None
    assert decisions(records[clerk["extensions"]["requestId"]]) == {
        "Person.idNumber": "read",
        "Person.name": "read",
        "Person.registeredAddress": "mask",
        "Person.maritalStatus": "read",
        "Person.annualIncome": "verify",
    }
    touched = {
        (entity.type, key, entity.department) for entity in clerk_record.entities for key in entity.keys
    }
    assert touched == {
        ("Person", ZHANG_WEI, "public_security"),
        ("Person", ZHANG_WEI, "civil_affairs"),
        ("Person", ZHANG_WEI, "taxation"),
    }
    assert "186000" not in str(clerk_record)

    assert decisions(records[tax["extensions"]["requestId"]]) == {
        "Person.idNumber": "read",
        "Person.annualIncome": "read",
        "Person.properties": "read",
        "Property.certificateNo": "read",
    }
    assert decisions(records[internal["extensions"]["requestId"]]) == {
        "Person.idNumber": "read",
        "Person.name": "read",
    }
    assert decisions(records[anonymous["extensions"]["requestId"]]) == {"Person.idNumber": "deny"}


async def test_denied_fields_are_recorded_as_denied(app: Starlette, client: httpx.AsyncClient) -> None:
    start = await last_position(app)
    body = await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { name annualIncome subsistenceAllowance { status } } }",
        {"id": ZHANG_WEI},
        bearer("police_officer", "household-admin"),
    )

    [stored] = await records_after(app, start)
    assert stored.record.request_id == body["extensions"]["requestId"]
    assert decisions(stored) == {
        "Person.idNumber": "read",
        "Person.name": "read",
        "Person.annualIncome": "deny",
        "Person.subsistenceAllowance": "deny",
    }
    assert {entity.department for entity in stored.record.entities} == {"public_security"}


async def test_public_only_requests_write_nothing(app: Starlette, client: httpx.AsyncClient) -> None:
    start = await last_position(app)
    for _ in range(3):
        await graphql(client, "{ enterpriseDirectory(first: 5) { edges { node { name status } } } }")

    assert await records_after(app, start) == []


async def test_the_chain_verifies(app: Starlette, client: httpx.AsyncClient) -> None:
    await graphql(client, CLERK_QUERY, {"id": ZHANG_WEI}, bearer("window_clerk", "housing-subsidy"))
    await app.state.audit_writer.flush()

    checked, broken = await app.state.audit_store.verify()
    assert broken is None
    assert checked >= 1


async def test_auditor_reads_the_log_newest_first_with_filters_and_cursor(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marker = f"purpose-{uuid.uuid4().hex[:6]}"
    for _ in range(5):
        await graphql(client, CLERK_QUERY, {"id": LI_NA}, bearer("window_clerk", "housing-subsidy"))
    await app.state.audit_writer.flush()
    query = """
    query($filter: AuditLogFilter, $after: String) {
      auditLog(filter: $filter, first: 2, after: $after) {
        entries { position subject department purpose entities { type key department } fields { coordinate decision } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    auditor = bearer("auditor", "oversight")
    where = {
        "entityKey": LI_NA,
        "field": "Person.registeredAddress",
        "department": "government_service_center",
    }
    first = (await graphql(client, query, {"filter": where}, auditor))["data"]["auditLog"]
    second = (
        await graphql(client, query, {"filter": where, "after": first["pageInfo"]["endCursor"]}, auditor)
    )["data"]["auditLog"]

    positions = [entry["position"] for entry in first["entries"] + second["entries"]]
    assert positions == sorted(positions, reverse=True)
    assert len(set(positions)) == 4
    assert first["pageInfo"]["hasNextPage"] is True
    for entry in first["entries"]:
        assert any(entity["key"] == LI_NA for entity in entry["entities"])
        assert entry["department"] == "government_service_center"
    none = await graphql(client, query, {"filter": {"purpose": marker}}, auditor)
    assert none["data"]["auditLog"]["entries"] == []


async def test_audit_log_is_for_auditors_only(client: httpx.AsyncClient) -> None:
    for headers in ({}, bearer("tax_officer", "tax-audit"), bearer("auditor")):
        response = await client.post(
            "/graphql",
            json={"query": "{ auditLog { entries { subject } } usage { records } }"},
            headers=headers,
        )
        body = response.json()
        assert body["data"] is None or (body["data"]["auditLog"] is None and body["data"]["usage"] is None)
        assert {error["extensions"]["code"] for error in body["errors"]} == {"FORBIDDEN"}
        assert "officer-" not in response.text


# --- stores of their own: tampering, concurrency, outage, usage, embargo ---------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/audit.db"
        return
    async with empty_postgres_database("govgraph_test_audit") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://")


@pytest.fixture
async def own_app(fresh_audit_url: str, environ: dict[str, str], tmp_path: Path) -> AsyncIterator[Starlette]:
    application = create_app(
        Settings(audit_url=fresh_audit_url, audit_spool=tmp_path / "spool.jsonl"), environ=environ
    )
    async with LifespanManager(application):
        yield application


def client_for(application: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://govgraph.test")


async def write_five(application: Starlette) -> None:
    async with client_for(application) as http:
        for id_number in (ZHANG_WEI, LI_NA, ZHANG_WEI, LI_NA, ZHANG_WEI):
            await graphql(http, CLERK_QUERY, {"id": id_number}, bearer("window_clerk", "housing-subsidy"))
    checked, broken = await application.state.audit_store.verify()
    assert (checked, broken) == (5, None)


async def tamper(application: Starlette, statement: Any) -> tuple[int, str]:
    store: AuditStore = application.state.audit_store
    async with store.engine.begin() as connection:
        await connection.execute(statement)
    _, broken = await store.verify()
    assert broken is not None
    return broken.position, broken.problem


async def test_editing_a_record_is_detected_at_its_position(own_app: Starlette) -> None:
    await write_five(own_app)
    position, problem = await tamper(
        own_app, sa.update(audit_records).where(audit_records.c.position == 3).values(purpose="tax-audit")
    )
    assert position == 3
    assert "changed" in problem


async def test_deleting_a_record_is_detected_at_its_position(own_app: Starlette) -> None:
    await write_five(own_app)
    position, problem = await tamper(own_app, sa.delete(audit_records).where(audit_records.c.position == 2))
    assert position == 2
    assert "missing" in problem


async def test_reordering_two_records_is_detected(own_app: Starlette) -> None:
    await write_five(own_app)
    await tamper(own_app, sa.update(audit_records).where(audit_records.c.position == 4).values(position=-4))
    await tamper(own_app, sa.update(audit_records).where(audit_records.c.position == 2).values(position=4))
    position, problem = await tamper(
        own_app, sa.update(audit_records).where(audit_records.c.position == -4).values(position=2)
    )
    assert position == 2
    assert "deleted or reordered" in problem


async def test_the_cli_verifies_and_reports_the_broken_position(
    own_app: Starlette, fresh_audit_url: str
) -> None:
    await write_five(own_app)
    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govgraph.cli",
        "audit",
        "verify",
        "--url",
        fresh_audit_url,
        stdout=asyncio.subprocess.PIPE,
    )
    assert (await verify.communicate())[0].decode().startswith("audit chain ok: 5 records")
    assert verify.returncode == 0

    await tamper(
        own_app, sa.update(audit_records).where(audit_records.c.position == 4).values(subject="someone-else")
    )
    broken = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govgraph.cli",
        "audit",
        "verify",
        "--url",
        fresh_audit_url,
        stdout=asyncio.subprocess.PIPE,
    )
    output = (await broken.communicate())[0].decode()
    assert broken.returncode == 1
    assert "position 4" in output


async def test_export_writes_json_lines(own_app: Starlette, fresh_audit_url: str) -> None:
    await write_five(own_app)
    export = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govgraph.cli",
        "audit",
        "export",
        "--url",
        fresh_audit_url,
        "--from",
        "2000-01-01",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, _ = await export.communicate()
    lines = output.decode().splitlines()
    assert export.returncode == 0
    assert len(lines) == 5
    assert '"recordHash"' in lines[0] and "186000" not in output.decode()


async def test_usage_totals_equal_what_the_requests_served(own_app: Starlette) -> None:
    async with client_for(own_app) as http:
        for _ in range(2):
            await graphql(http, CLERK_QUERY, {"id": ZHANG_WEI}, bearer("window_clerk", "housing-subsidy"))
        await graphql(
            http,
            "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { annualIncome taxCompliant } }",
            {"ids": [ZHANG_WEI, LI_NA]},
            bearer("tax_officer", "tax-audit"),
        )
        await own_app.state.audit_writer.flush()
        body = await graphql(
            http,
            "{ usage(groupBy: [PROVIDER, CONSUMER, FIELD]) { provider consumer field records fieldsServed entitiesServed } }",
            headers=bearer("auditor", "oversight"),
        )

    rows = {(row["provider"], row["consumer"], row["field"]): row for row in body["data"]["usage"]}
    clerk, tax = "government_service_center", "taxation"
    assert rows[("public_security", clerk, "Person.name")] == {
        "provider": "public_security",
        "consumer": clerk,
        "field": "Person.name",
        "records": 2,
        "fieldsServed": 2,
        "entitiesServed": 2,
    }
    assert rows[("taxation", clerk, "Person.annualIncome")]["records"] == 2
    assert rows[("taxation", tax, "Person.annualIncome")]["entitiesServed"] == 2
    assert rows[("taxation", tax, "Person.taxCompliant")]["records"] == 1
    served = sum(row["fieldsServed"] for row in body["data"]["usage"] if row["provider"] != "govgraph")
    # Each request also looked a person up by Person.idNumber: that lookup is a use of public_security's data.
    assert served == 2 * 5 + 3


async def test_two_instances_write_one_chain_under_concurrency(
    environ: dict[str, str], tmp_path: Path
) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    database = f"govgraph_test_audit_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    try:
        first = create_app(Settings(audit_url=url, audit_spool=tmp_path / "a.jsonl"), environ=environ)
        second = create_app(Settings(audit_url=url, audit_spool=tmp_path / "b.jsonl"), environ=environ)
        async with (
            LifespanManager(first),
            LifespanManager(second),
            client_for(first) as a,
            client_for(second) as b,
        ):
            headers = bearer("window_clerk", "housing-subsidy")
            responses = await asyncio.gather(
                *(
                    (a if index % 2 else b).post(
                        "/graphql",
                        json={"query": CLERK_QUERY, "variables": {"id": ZHANG_WEI}},
                        headers=headers,
                    )
                    for index in range(200)
                )
            )
            failures = [
                response.text
                for response in responses
                if {error["extensions"]["code"] for error in response.json()["errors"]} != {"FORBIDDEN"}
            ]
            assert failures == []
            assert await first.state.audit_store.count() == 200
            assert await first.state.audit_store.verify() == (200, None)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


MIXED_QUERY = """
query($id: IdNumber!, $code: CreditCode!) {
  person(idNumber: $id) { name maritalStatus registeredAddress spouse { name } verify { annualIncome(lt: 60000) } }
  enterprise(creditCode: $code) { name status }
}"""


async def assert_withheld(application: Starlette) -> None:
    async with client_for(application) as http:
        response = await http.post(
            "/graphql",
            json={"query": MIXED_QUERY, "variables": {"id": ZHANG_WEI, "code": EXAMPLE_TECH}},
            headers=bearer("window_clerk", "housing-subsidy"),
        )
    assert response.status_code == 200
    body = response.json()
    person = body["data"]["person"]
    assert person["name"] == "张伟"
    assert (
        person["maritalStatus"] is None and person["registeredAddress"] is None and person["spouse"] is None
    )
    assert person["verify"]["annualIncome"] is None
    assert body["data"]["enterprise"] == {"name": "北京示例科技有限公司", "status": "存续"}
    codes = {tuple(error["path"]): error["extensions"]["code"] for error in body["errors"]}
    assert codes[("person", "maritalStatus")] == "AUDIT_UNAVAILABLE"
    assert codes[("person", "verify", "annualIncome")] == "AUDIT_UNAVAILABLE"
    assert (
        "married" not in response.text and "北京市东城区" not in response.text and "李娜" not in response.text
    )


async def test_audit_store_down_withholds_sensitive_fields(environ: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(
        audit_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere", audit_spool=tmp_path / "s.jsonl"
    )
    application = create_app(settings, environ=environ)
    async with LifespanManager(application):
        await assert_withheld(application)


async def test_read_only_sqlite_audit_store_withholds_sensitive_fields(
    environ: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "audit.db"
    store = AuditStore(f"sqlite+aiosqlite:///{database}")
    await store.open()
    await store.close()
    read_only = f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true"
    application = create_app(Settings(audit_url=read_only, audit_spool=tmp_path / "s.jsonl"), environ=environ)
    async with LifespanManager(application):
        await assert_withheld(application)


async def test_internal_only_records_survive_shutdown_while_the_store_is_down(
    environ: dict[str, str], tmp_path: Path
) -> None:
    spool = tmp_path / "spool.jsonl"
    database = tmp_path / "audit.db"
    down = create_app(
        Settings(audit_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere", audit_spool=spool),
        environ=environ,
    )
    async with LifespanManager(down), client_for(down) as http:
        body = await graphql(
            http, '{ person(idNumber: "%s") { name } }' % ZHANG_WEI, headers=bearer("police_officer")
        )
        assert body["data"]["person"]["name"] == "张伟"
    assert spool.exists()

    up = create_app(Settings(audit_url=f"sqlite+aiosqlite:///{database}", audit_spool=spool), environ=environ)
    async with LifespanManager(up):
        [stored] = await up.state.audit_store.query(AuditFilter(), 10, None)
        assert stored.record.request_id == body["extensions"]["requestId"]
    assert not spool.exists()


@pytest.fixture
def embargo_catalog(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, directory)
    policy = directory / "policy.yaml"
    policy.write_text(
        policy.read_text(encoding="utf-8")
        + "\nembargoes:\n  - {purpose: tax-audit, until: '2999-01-01'}\n  - {purpose: subsistence-review, until: '2000-01-01'}\n",
        encoding="utf-8",
    )
    return directory


async def test_citizen_sees_their_access_log_and_embargoes_hold(
    embargo_catalog: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(
        catalog=embargo_catalog,
        audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db",
        audit_spool=tmp_path / "s.jsonl",
    )
    application = create_app(settings, environ=environ)
    query = "{ myAccessLog { occurredAt department roles purpose fields { coordinate decision } } }"
    async with LifespanManager(application), client_for(application) as http:
        await graphql(
            http,
            CLERK_QUERY,
            {"id": ZHANG_WEI},
            bearer("window_clerk", "housing-subsidy", subject="clerk-secret-id"),
        )
        await graphql(
            http, CLERK_QUERY, {"id": ZHANG_WEI}, bearer("tax_officer", "tax-audit", subject="tax-secret-id")
        )
        await graphql(
            http, CLERK_QUERY, {"id": ZHANG_WEI}, bearer("civil_affairs_officer", "subsistence-review")
        )
        await graphql(http, CLERK_QUERY, {"id": LI_NA}, bearer("window_clerk", "housing-subsidy"))
        await application.state.audit_writer.flush()
        response = await http.post(
            "/graphql", json={"query": query}, headers=bearer("citizen", subject=ZHANG_WEI)
        )
        other = await graphql(http, query, headers=bearer("citizen", subject=LI_NA))
        not_a_person = await graphql(http, query, headers=bearer("citizen", subject="someone"))

    entries = response.json()["data"]["myAccessLog"]
    assert [(entry["department"], entry["purpose"]) for entry in entries] == [
        ("civil_affairs", "subsistence-review"),
        ("government_service_center", "housing-subsidy"),
    ]
    assert entries[1]["roles"] == ["window_clerk"]
    assert {field["coordinate"]: field["decision"] for field in entries[1]["fields"]}[
        "Person.registeredAddress"
    ] == "mask"
    assert "secret-id" not in response.text
    assert len(other["data"]["myAccessLog"]) == 1
    assert not_a_person["errors"][0]["extensions"]["code"] == "FORBIDDEN"
