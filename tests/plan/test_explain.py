"""``govgraph explain`` tells what a request will do: the same decisions its audit record then holds, no
department it would not ask, the same refusal; and on the command line, clear errors for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from govgraph import Settings, cli, create_app
from govgraph.audit.store import AuditFilter
from govgraph.auth.principal import Principal
from govgraph.plan.explain import ExplainError, explain
from tests.auth_helpers import bearer
from tests.conftest import AppFactory
from tests.security.corpus import ZHANG_WEI, generate

GOLDEN = """
query Golden($id: IdNumber!) {
  person(idNumber: $id) {
    name registeredAddress annualIncome
    spouse { name }
    properties { certificateNo owners { share person { idNumber } } }
    verify { annualIncome(lt: 100000) }
  }
}"""
PURPOSES = {
    "tax_officer": "tax-audit",
    "window_clerk": "housing-subsidy",
    "civil_affairs_officer": "subsistence-review",
    "police_officer": "household-admin",
}


def principal(state: Any, role: str) -> Principal:
    """The principal a demo token for ``role`` carries (its department from the policy)."""
    return Principal(f"demo-{role}", state.policy.roles[role].department, (role,), PURPOSES[role], True)


@pytest.fixture(scope="module")
def state(demo_dir: Path) -> Any:
    return create_app(Settings(), environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)}).state


def test_a_portal_query_is_explained_field_by_field_and_level_by_level(state: Any) -> None:
    explained = explain(state, GOLDEN, principal(state, "window_clerk"), variables={"id": ZHANG_WEI})
    decisions = {item.coordinate: (item.decision, item.detail) for item in explained.fields}
    assert decisions["Person.name"] == ("read", "")
    # Asked both ways: the yes/no question is allowed, the value itself is denied, with FORBIDDEN's reason.
    assert decisions["Person.annualIncome"][0] == "verify"
    assert decisions["Person.annualIncome"][1].startswith("selected directly: denied, verify only")
    assert decisions["Person.registeredAddress"] == ("mask", "mask: address")
    levels = {(item.level, item.department, item.table, item.kind) for item in explained.requests}
    assert (1, "public_security", "residents", "rows") in levels
    assert (1, "natural_resources", "property_rights", "lookup") in levels  # with the parent's rows
    # The yes/no question needs taxation's value; without it, the denied field is never fetched at all.
    assert any(item.department == "taxation" for item in explained.requests)
    plain = explain(
        state,
        GOLDEN.replace("verify { annualIncome(lt: 100000) }", ""),
        explained.principal,
        variables={"id": ZHANG_WEI},
    )
    assert not any(item.department == "taxation" for item in plain.requests)
    assert [item.keys for item in explained.requests if item.level == 1] == [1] * sum(
        1 for item in explained.requests if item.level == 1
    )
    assert explained.compiled and explained.waits_for_commit
    text = explained.render()
    assert "Person.annualIncome" in text and "level 2" in text and "waits for its commit" in text


def test_one_table_reached_two_ways_in_a_level_is_planned_as_one_statement(state: Any) -> None:
    query = """query($ids: [IdNumber!]!) { persons(idNumbers: $ids) {
      socialInsurance { employer { name } } enterprises { status } } }"""
    explained = explain(state, query, principal(state, "tax_officer"), variables={"ids": [ZHANG_WEI]})
    rows = [item for item in explained.requests if (item.table, item.kind) == ("enterprises", "rows")]
    assert len(rows) == 1
    (enterprises,) = rows
    assert enterprises.level == 2 and {"entname", "regstate"} <= set(enterprises.columns)
    assert "employer" in enterprises.reached_from and "enterprises" in enterprises.reached_from


def test_an_operation_over_the_limits_is_explained_as_refused(state: Any) -> None:
    deep = '{ person(idNumber: "%s") { spouse { spouse { spouse { spouse { spouse { spouse { spouse { spouse { name } } } } } } } } } }'
    explained = explain(state, deep % ZHANG_WEI, principal(state, "tax_officer"))
    assert explained.refused is not None and "depth" in explained.refused
    assert explained.requests == [] and explained.fields == []


@pytest.mark.parametrize(
    ("query", "variables", "problem"),
    [
        ("{ person(idNumber: ", {}, "Syntax Error"),
        ("{ person(idNumber: $id) { name } }", {}, "Variable '$id' is not defined"),
        (
            "query($id: IdNumber!) { person(idNumber: $id) { name } }",
            {},
            "Expected a value of non-null type 'IdNumber!' to be provided",
        ),
        ("query($id: IdNumber!) { person(idNumber: $id) { name } }", {"id": "123"}, "Invalid IdNumber"),
        ('{ person(idNumber: "%s") { nonsense } }' % ZHANG_WEI, {}, "Cannot query field 'nonsense'"),
    ],
)
def test_an_operation_that_cannot_run_says_why(
    state: object, query: str, variables: dict, problem: str
) -> None:
    with pytest.raises(ExplainError) as raised:
        explain(state, query, principal(state, "tax_officer"), variables=variables)
    assert problem in str(raised.value)


async def test_the_explanation_holds_what_the_request_then_records(app_factory: AppFactory) -> None:
    app, client = await app_factory(max_verify_questions_per_window=1_000_000)
    documents = generate(app.state.schema._schema, 40, seed=17)
    compared = 0
    for role, purpose in PURPOSES.items():
        headers = {**bearer(role, purpose), "Cache-Control": "no-cache"}
        for document in documents:
            explained = explain(
                app.state, document.text, principal(app.state, role), variables=document.variables
            )
            before = {name: source.queries for name, source in app.state.sources.items()}
            response = await client.post(
                "/graphql", json={"query": document.text, "variables": document.variables}, headers=headers
            )
            body = response.json()
            asked = {name for name, source in app.state.sources.items() if source.queries > before[name]}
            if explained.refused is not None:
                assert body.get("data") is None and "QUERY_TOO_COMPLEX" in response.text, document.text
                assert asked == set()
                continue
            if explained.compiled:
                assert asked <= {item.department for item in explained.requests}, (role, document.text)
            [stored] = await app.state.audit_store.query(AuditFilter(), 1, None) or [None]
            recorded = stored is not None and stored.record.request_id == body["extensions"]["requestId"]
            assert recorded == bool(explained.audit_fields), (role, document.text)
            if recorded:
                record = stored.record
                fields = {
                    (item.coordinate, item.decision) for item in record.fields if item.decision != "refused"
                }
                assert fields == {(item.coordinate, item.decision) for item in explained.audit_fields}
                entities = {(entity.type, entity.department) for entity in record.entities}
                if explained.compiled:
                    assert entities <= set(explained.audit_entities), (role, document.text)
                compared += 1
    assert compared > 60, "the corpus reached records"


def test_the_command_prints_text_or_json(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))
    variables = json.dumps({"id": ZHANG_WEI})
    assert (
        cli.main(
            ["explain", GOLDEN, "--role", "tax_officer", "--purpose", "tax-audit", "--variables", variables]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert re.search(r"Person\.annualIncome\s+taxation\s+sensitive\s+read", text)
    assert "level 1  taxation" in text

    assert (
        cli.main(
            [
                "explain",
                GOLDEN,
                "--role",
                "window_clerk",
                "--purpose",
                "housing-subsidy",
                "--variables",
                variables,
                "--json",
            ]
        )
        == 0
    )
    explained = json.loads(capsys.readouterr().out)
    assert {
        "coordinate": "Person.annualIncome",
        "provider": "taxation",
        "classification": "sensitive",
    }.items() <= next(
        item for item in explained["fields"] if item["coordinate"] == "Person.annualIncome"
    ).items()
    assert explained["audit"]["waitsForCommit"] is True


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--role", "mayor"], "unknown role mayor"),
        (["--role", "tax_officer", "--purpose", "curiosity"], "unknown purpose curiosity"),
        (["--role", "tax_officer", "--variables", "{id:"], "--variables is not JSON"),
        (["--role", "tax_officer", "--variables", "[1]"], "--variables must be a JSON object"),
        (["--role", "tax_officer"], "Expected a value of non-null type 'IdNumber!' to be provided"),
    ],
)
def test_the_command_refuses_bad_input_clearly(
    demo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    problem: str,
) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))
    assert cli.main(["explain", GOLDEN, *arguments]) == 2
    assert problem in capsys.readouterr().err
