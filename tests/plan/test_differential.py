"""The compiled plan against graphql-core, the reference: byte-identical responses, identical audit records.

Two apps over the same departments, one running compiled plans and one with
them off, answer the same generated corpus for every demo role, with
aliases, fragments, variables with defaults, ``@include``/``@skip``, the
``_Entity`` union, bad keys, verify limits, a department down and the audit
store down. Their caches read one fixed clock, so freshness agrees too; only
the request id differs.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app
from govgraph.audit.store import AuditFilter
from tests.auth_helpers import bearer
from tests.security.corpus import EXAMPLE_TECH, LI_NA, PROPERTY, ZHANG_WEI, generate

ROLES = {
    "clerk": bearer("window_clerk", "housing-subsidy"),
    "tax": bearer("tax_officer", "tax-audit"),
    "civil": bearer("civil_affairs_officer", "subsistence-review"),
    "police": bearer("police_officer", "household-admin"),
    "auditor": bearer("auditor"),
    "anonymous": {},
    "citizen": bearer("citizen", subject=ZHANG_WEI),
}
REQUEST_ID = re.compile(rb"[0-9a-f]{32}")
NOW = 1_800_000_000.0
CASES = [
    (
        '{ persons(idNumbers: ["%s", "110101199003071234", "%s"]) { name maritalStatus } }'
        % (ZHANG_WEI, ZHANG_WEI),
        {},
    ),
    ('{ person(idNumber: "123") { name } }', {}),
    ("query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name } }", {"ids": [ZHANG_WEI, "bad"]}),
    ('{ person(idNumber: "%s") { verify { annualIncome } } }' % ZHANG_WEI, {}),
    (
        '{ person(idNumber: "%s") { verify { a: annualIncome(lt: 1) b: annualIncome(lt: 2) c: annualIncome(lt: 3) '
        "d: annualIncome(lt: 4) e: annualIncome(lt: 1) } } }" % ZHANG_WEI,
        {},
    ),
    (
        '{ _entities(representations: [{__typename: "Person", idNumber: "%s"}, {__typename: "Property", certificateNo: "%s"}, '
        '{__typename: "Enterprise", creditCode: "%s"}]) { __typename ... on Person { name spouse { name } } '
        "... on Property { area owners { share } } ... on Enterprise { status legalRepresentative { name } } } }"
        % (LI_NA, PROPERTY, EXAMPLE_TECH),
        {},
    ),
    (
        '{ person(idNumber: "%s") { properties { owners { person { name spouse { name } } enterprise { name } } } '
        "socialInsurance { employer { name legalRepresentative { name } } } household { members { name } } } }"
        % ZHANG_WEI,
        {},
    ),
    (
        '{ enterprises(creditCodes: ["%s", "91110105MA00GK2T0A"]) { name taxArrears taxArrearsBand properties { area } } }'
        % EXAMPLE_TECH,
        {},
    ),
]

WITHHELD_LIST = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    idNumber name maritalStatus annualIncome taxCompliant
    socialInsurance { contributionMonths employer { name } }
    spouse { name maritalStatus }
    enterprises { name status }
    properties { certificateNo mortgaged owners { share person { name annualIncome } } }
  }
}"""


async def _apps(
    environ: dict[str, str], tmp_path: Path, audit_url: str | None, stack: AsyncExitStack
) -> tuple[Any, Any]:
    clients = []
    for name, compiled in (("compiled", True), ("reference", False)):
        settings = Settings(
            audit_url=audit_url or f"sqlite+aiosqlite:///{tmp_path}/{name}-audit.db",
            audit_spool=tmp_path / f"{name}.jsonl",
            compiled_plans=compiled,
            rate_limit_per_subject=1e9,
            rate_limit_per_department=1e9,
            rate_limit_anonymous=1e9,
            max_verify_questions_per_window=1_000_000,
        )
        app = create_app(settings, environ=environ)
        await stack.enter_async_context(LifespanManager(app))
        app.state.cache.clock = lambda: NOW
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test")
        )
        clients.append((app, client))
    return clients[0], clients[1]


@pytest.fixture
async def pair(environ: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    async with AsyncExitStack() as stack:
        yield await _apps(environ, tmp_path, None, stack)


async def latest_record(app: Starlette) -> dict[str, Any] | None:
    [stored] = await app.state.audit_store.query(AuditFilter(), 1, None) or [None]
    if stored is None:
        return None
    record = stored.record
    return {
        "fields": record.fields,
        "entities": record.entities,
        "subject": record.subject,
        "purpose": record.purpose,
    }


async def compare(
    pair: tuple[Any, Any], query: str, variables: dict[str, Any], headers: dict[str, str], audit: bool = True
) -> bool:
    (compiled_app, compiled), (reference_app, reference) = pair
    body = {"query": query, "variables": variables}
    fast = await compiled.post("/graphql", json=body, headers=headers)
    slow = await reference.post("/graphql", json=body, headers=headers)
    assert fast.status_code == slow.status_code, (query, slow.text)
    assert REQUEST_ID.sub(b"-", fast.content) == REQUEST_ID.sub(b"-", slow.content), (
        query,
        variables,
        headers,
        fast.text,
        slow.text,
    )
    if audit:
        assert await latest_record(compiled_app) == await latest_record(reference_app), query
    return b'"errors"' not in fast.content


async def test_the_generated_corpus_answers_byte_for_byte_alike(pair: tuple[Any, Any]) -> None:
    (compiled_app, _), _ = pair
    plans = compiled_app.state.schema  # the compiled app must really compile
    documents = generate(plans._schema, 50, seed=11)
    for document in documents:
        for headers in ROLES.values():
            await compare(pair, document.text, document.variables, headers, audit=False)
    prepared = compiled_app.router.routes[0].endpoint.prepared
    compiled = [
        entry.prepared.compiled for entry in prepared._entries.values() if entry.prepared.compiled_ready
    ]
    assert sum(plan is not None for plan in compiled) > 100, "the corpus ran through compiled plans"


@pytest.mark.parametrize("case", range(len(CASES)))
async def test_edge_cases_answer_alike_with_the_same_audit_record(pair: tuple[Any, Any], case: int) -> None:
    query, variables = CASES[case]
    for headers in ROLES.values():
        await compare(pair, query, variables, headers)


async def test_a_department_down_answers_alike(
    environ: dict[str, str], demo_dir: Path, tmp_path: Path
) -> None:
    if "GOVGRAPH_DEMO_DIR" not in environ:
        pytest.skip("a missing department file is a SQLite fault; PostgreSQL faults are in tests/reliability")
    city = tmp_path / "city"
    shutil.copytree(demo_dir, city)
    (city / "civil_affairs.db").unlink()
    async with AsyncExitStack() as stack:
        pair = await _apps({"GOVGRAPH_DEMO_DIR": str(city)}, tmp_path, None, stack)
        for document in generate(pair[0][0].state.schema._schema, 20, seed=5):
            for headers in (ROLES["clerk"], ROLES["civil"], ROLES["tax"]):
                await compare(pair, document.text, document.variables, headers, audit=False)
        for query, variables in CASES:
            await compare(pair, query, variables, ROLES["civil"])


async def test_the_audit_store_down_answers_alike(environ: dict[str, str], tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        pair = await _apps(environ, tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere", stack)
        for document in generate(pair[0][0].state.schema._schema, 20, seed=9):
            for headers in (ROLES["clerk"], ROLES["tax"], ROLES["police"]):
                await compare(pair, document.text, document.variables, headers, audit=False)
        withheld = 0
        for query, variables in [*CASES, (WITHHELD_LIST, {"ids": [ZHANG_WEI, LI_NA, "110101199003071234"]})]:
            for headers in ROLES.values():
                await compare(pair, query, variables, headers, audit=False)
                answer = await pair[0][1].post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                withheld += answer.text.count('"AUDIT_UNAVAILABLE"')
        assert withheld > 20, "protected values of lists, references and roots were withheld"
