"""``_entities`` (how a federation router asks) answers the golden person exactly as ``person(...)`` does, for
every demo role: the same values, masks, yes/no answers and denials, and the same audit record."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from govgraph.demo.golden import ZHANG_WEI
from tests.auth_helpers import bearer
from tests.conftest import AppFactory, graphql

ROLES = {
    "window_clerk": "housing-subsidy",
    "tax_officer": "tax-audit",
    "civil_affairs_officer": "subsistence-review",
    "police_officer": "household-admin",
    "auditor": "oversight",
}
FIELDS = """
fragment Golden on Person {
  idNumber name gender birthDate registeredAddress maritalStatus annualIncome annualIncomeBand taxCompliant
  spouse { name registeredAddress }
  household { householdId address }
  socialInsurance { pensionInsured contributionMonths employer { name } }
  subsistenceAllowance { status monthlyAmount }
  properties { certificateNo address area mortgaged owners { share person { name } } }
  enterprises { name status taxArrears }
  verify { lowIncome: annualIncome(lt: 60000) }
}"""
BY_ROOT = "query($id: IdNumber!) { person(idNumber: $id) { ...Golden } }" + FIELDS
BY_ENTITIES = (
    "query($representations: [_Any!]!) { _entities(representations: $representations) { ...Golden } }"
    + FIELDS
)


def errors_by_path(body: dict[str, Any], prefix: int) -> set[tuple[tuple[Any, ...], str]]:
    """Each error's path below the person, with its code."""
    return {(tuple(error["path"][prefix:]), error["extensions"]["code"]) for error in body.get("errors", [])}


def last_record(audit_url: str) -> dict[str, Any]:
    path = audit_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as connection:
        entities, fields = connection.execute(
            "SELECT entities, fields FROM govgraph_audit_records ORDER BY position DESC LIMIT 1"
        ).fetchone()
    return {
        "entities": [{k: v for k, v in item.items() if k != "served_from"} for item in json.loads(entities)],
        "fields": json.loads(fields),
    }


@pytest.mark.parametrize("role", ROLES)
async def test_entities_answer_and_record_the_golden_person_as_the_root_field_does(
    app_factory: AppFactory, role: str
) -> None:
    app, client = await app_factory(max_verify_questions_per_window=1_000_000)
    headers = bearer(role, ROLES[role])
    direct = await graphql(client, BY_ROOT, {"id": ZHANG_WEI}, headers)
    recorded_direct = last_record(app.state.settings.audit_url)
    representations = [{"__typename": "Person", "idNumber": ZHANG_WEI}]
    federated = await graphql(client, BY_ENTITIES, {"representations": representations}, headers)
    recorded_federated = last_record(app.state.settings.audit_url)

    assert federated["data"]["_entities"] == [direct["data"]["person"]]
    assert errors_by_path(federated, 2) == errors_by_path(direct, 1)
    assert recorded_federated == recorded_direct
    assert direct["data"]["person"] is not None
