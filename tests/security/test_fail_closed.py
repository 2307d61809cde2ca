"""Fail-closed audit: with the store down, no conditional or sensitive value leaves, however it was selected.

The reference needs no second reading of the operation: a principal with
internal access only (the auditor, whose grants cover the oversight fields
alone) gets every public and internal value and nothing else. So for every
generated operation and every role, the data a role gets while the audit
store is down must equal that principal's data, exactly; and the log must
count the values withheld.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from govgraph import Settings, create_app
from tests.auth_helpers import bearer
from tests.security.corpus import EXAMPLE_TECH, ZHANG_WEI, generate

ROLES = [
    ("window_clerk", "housing-subsidy"),
    ("tax_officer", "tax-audit"),
    ("civil_affairs_officer", "subsistence-review"),
    ("police_officer", "household-admin"),
]
INTERNAL_ONLY = bearer("auditor")
DOWN = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"


@pytest.fixture
async def clients(environ: dict[str, str], tmp_path: Path) -> Any:
    """(audit store down, audit store up): two apps over the same departments."""
    down = create_app(Settings(audit_url=DOWN, audit_spool=tmp_path / "down.jsonl"), environ=environ)
    up = create_app(
        Settings(audit_url=f"sqlite+aiosqlite:///{tmp_path}/up.db", audit_spool=tmp_path / "up.jsonl"),
        environ=environ,
    )
    async with (
        LifespanManager(down),
        LifespanManager(up),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://down") as down_client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=up), base_url="http://up") as up_client,
    ):
        yield down_client, up_client, down


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_generated_operations_release_nothing_protected_while_the_store_is_down(
    clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    down, up, down_app = clients
    documents = generate(down_app.state.schema._schema, 80, seed=20261201)
    protected_somewhere = 0
    for document in documents:
        reference = await post(down, document.text, document.variables, INTERNAL_ONLY)
        if any(error["extensions"]["code"] == "QUERY_TOO_COMPLEX" for error in reference.get("errors", ())):
            continue
        for role, purpose in ROLES:
            headers = bearer(role, purpose)
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="govgraph.endpoint"):
                withheld = await post(down, document.text, document.variables, headers)
            assert withheld["data"] == reference["data"], (role, document.text, document.variables)
            audit_errors = [
                error
                for error in withheld.get("errors", ())
                if error["extensions"]["code"] == "AUDIT_UNAVAILABLE"
            ]
            logged = [record.getMessage() for record in caplog.records if "withheld" in record.getMessage()]
            if audit_errors:
                assert logged == [
                    f"audit store unavailable: withheld {len(audit_errors)} conditional or sensitive values "
                    f"of request {withheld['extensions']['requestId']}"
                ]
            released = await post(up, document.text, document.variables, headers)
            if released["data"] != reference["data"]:
                protected_somewhere += 1
                assert audit_errors, (role, document.text)
    # The corpus is not vacuous: most operations reach protected values for some role.
    assert protected_somewhere > len(documents)


ID = f'$id: IdNumber = "{ZHANG_WEI}"'
ZHANG_WEI_ENTITY = f'{{__typename: "Person", idNumber: "{ZHANG_WEI}"}}'
VARIANTS = [
    # @include on a variable whose default says true: the executor includes it, so must withholding.
    f"query({ID}, $v: Boolean = true) {{ person(idNumber: $id) {{ name annualIncome @include(if: $v) }} }}",
    f"query({ID}, $v: Boolean = false) {{ person(idNumber: $id) {{ name annualIncome @skip(if: $v) }} }}",
    f"query({ID}, $v: Boolean = true) {{ person(idNumber: $id) {{ ... @include(if: $v) {{ annualIncome }} }} }}",
    # Aliases chosen to look like a name govgraph might inject for itself, or like harmless fields.
    f"{{ _entities(representations: [{ZHANG_WEI_ENTITY}]) {{ ... on Person {{ __govgraph_typename: name annualIncome }} }} }}",
    f"{{ _entities(representations: [{ZHANG_WEI_ENTITY}]) {{ __typename ... on _Entity {{ ... on Person {{ name: annualIncome }} }} }} }}",
    f"query({ID}) {{ person(idNumber: $id) {{ name: annualIncome idNumber: maritalStatus }} }}",
    f"query({ID}) {{ person(idNumber: $id) {{ ...P }} }} fragment P on Person {{ ... on Person {{ annualIncome }} }}",
    f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ legalRepresentative {{ spouse {{ maritalStatus annualIncome }} }} }} }}',
    f'{{ persons(idNumbers: ["{ZHANG_WEI}"]) {{ properties {{ owners {{ person {{ annualIncome }} }} }} }} }}',
]


@pytest.mark.parametrize("query", VARIANTS)
async def test_every_way_of_selecting_is_withheld(clients: Any, query: str) -> None:
    down, _, _ = clients
    response = await down.post("/graphql", json={"query": query}, headers=bearer("tax_officer", "tax-audit"))
    assert response.status_code == 200, response.text
    assert "186000" not in response.text and "married" not in response.text
    codes = [error["extensions"]["code"] for error in response.json()["errors"]]
    assert "AUDIT_UNAVAILABLE" in codes
