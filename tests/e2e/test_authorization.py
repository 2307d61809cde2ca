"""Field-level authorization over HTTP: the role × field matrix on the golden records, and no leaks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth_helpers import bearer
from tests.conftest import QueryCounter, graphql

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
WANG_JIANGUO = "110105196504123312"
OLD_TOWN_TRADING = "91110105MA00GK2T0A"
ADDRESS = "北京市东城区景山前街4号院2号楼301"
ADDRESS_MASKED = "北京市东城区"
INCOME = 186000

PERSON_FIELDS = (
    "name",
    "registeredAddress",
    "maritalStatus",
    "annualIncome",
    "taxCompliant",
    "subsistenceAllowance",
    "socialInsurance",
    "properties",
    "household",
)
MATRIX_QUERY = """
query Matrix($id: IdNumber!, $code: CreditCode!) {
  person(idNumber: $id) {
    name registeredAddress maritalStatus annualIncome taxCompliant
    subsistenceAllowance { status monthlyAmount }
    socialInsurance { contributionMonths }
    properties { certificateNo }
    household { householdId address }
  }
  enterprise(creditCode: $code) { name status taxCreditRating taxArrears insuredEmployees }
}"""

READ, DENY = "read", "deny"
SCENARIOS: dict[str, tuple[str | None, str | None, dict[str, Any]]] = {
    "window_clerk/housing-subsidy": (
        "window_clerk",
        "housing-subsidy",
        {
            "name": READ,
            "registeredAddress": ADDRESS_MASKED,
            "maritalStatus": READ,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": READ,
            "properties": READ,
            "household.address": ADDRESS_MASKED,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
    "window_clerk/business-startup": (
        "window_clerk",
        "business-startup",
        {
            "name": READ,
            "registeredAddress": ADDRESS_MASKED,
            "maritalStatus": READ,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": READ,
            "properties": READ,
            "household.address": ADDRESS_MASKED,
            "taxArrears": DENY,
            "insuredEmployees": READ,
        },
    ),
    "tax_officer/tax-audit": (
        "tax_officer",
        "tax-audit",
        {
            "name": READ,
            "registeredAddress": DENY,
            "maritalStatus": READ,
            "annualIncome": READ,
            "taxCompliant": READ,
            "subsistenceAllowance": DENY,
            "socialInsurance": READ,
            "properties": READ,
            "household.address": DENY,
            "taxArrears": READ,
            "insuredEmployees": READ,
        },
    ),
    "civil_affairs_officer/subsistence-review": (
        "civil_affairs_officer",
        "subsistence-review",
        {
            "name": READ,
            "registeredAddress": DENY,
            "maritalStatus": READ,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": READ,
            "socialInsurance": DENY,
            "properties": READ,
            "household.address": DENY,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
    "police_officer/household-admin": (
        "police_officer",
        "household-admin",
        {
            "name": READ,
            "registeredAddress": READ,
            "maritalStatus": DENY,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": DENY,
            "properties": DENY,
            "household.address": READ,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
    "auditor/oversight": (
        "auditor",
        "oversight",
        {
            "name": READ,
            "registeredAddress": DENY,
            "maritalStatus": DENY,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": DENY,
            "properties": DENY,
            "household.address": DENY,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
    "citizen": (
        "citizen",
        None,
        {
            "name": DENY,
            "registeredAddress": DENY,
            "maritalStatus": DENY,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": DENY,
            "properties": DENY,
            "household.address": DENY,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
    "tax_officer/no purpose": (
        "tax_officer",
        None,
        {
            "name": READ,
            "registeredAddress": DENY,
            "maritalStatus": DENY,
            "annualIncome": DENY,
            "taxCompliant": DENY,
            "subsistenceAllowance": DENY,
            "socialInsurance": DENY,
            "properties": DENY,
            "household.address": DENY,
            "taxArrears": DENY,
            "insuredEmployees": DENY,
        },
    ),
}
RAW_VALUES = {
    "registeredAddress": "景山前街",
    "household.address": "景山前街",
    "annualIncome": str(INCOME),
    "taxArrears": "35000",
}


def errors_by_path(body: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(error["path"]): error for error in body.get("errors", []) if "path" in error}


def value_at(body: dict[str, Any], field: str) -> tuple[Any, tuple[Any, ...]]:
    if field in ("taxArrears", "insuredEmployees"):
        return body["data"]["enterprise"][field], ("enterprise", field)
    if field == "household.address":
        return body["data"]["person"]["household"]["address"], ("person", "household", "address")
    return body["data"]["person"][field], ("person", field)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_role_field_matrix(client: httpx.AsyncClient, scenario: str) -> None:
    role, purpose, expected = SCENARIOS[scenario]
    response = await client.post(
        "/graphql",
        json={"query": MATRIX_QUERY, "variables": {"id": ZHANG_WEI, "code": OLD_TOWN_TRADING}},
        headers=bearer(role, purpose),
    )
    assert response.status_code == 200
    body = response.json()
    errors = errors_by_path(body)

    if body["data"]["person"] is None:
        assert errors[("person",)]["extensions"]["code"] == "FORBIDDEN", "the whole lookup is denied"
        expected = {
            field: outcome
            for field, outcome in expected.items()
            if field in ("taxArrears", "insuredEmployees")
        }
        assert all(outcome == DENY for outcome in SCENARIOS[scenario][2].values())
        assert "张伟" not in response.text
    for field, outcome in expected.items():
        value, path = value_at(body, field)
        if outcome == DENY:
            assert value is None, (scenario, field)
            assert errors[path]["extensions"]["code"] == "FORBIDDEN", (scenario, field)
            assert errors[path]["extensions"]["coordinate"].endswith(field.split(".")[-1])
            if field in RAW_VALUES:
                assert RAW_VALUES[field] not in response.text, (scenario, field)
        elif outcome == READ:
            assert path not in errors, (scenario, field)
        else:
            assert value == outcome, (scenario, field)
            assert RAW_VALUES[field] not in response.text, (scenario, field)
    assert body["data"]["enterprise"]["name"] == "北京旧城贸易有限公司"
    if expected.get("annualIncome") == READ:
        assert body["data"]["person"]["annualIncome"] == INCOME
    if expected.get("maritalStatus") == READ:
        assert body["data"]["person"]["maritalStatus"] == "married"
    if expected.get("registeredAddress") == READ:
        assert body["data"]["person"]["registeredAddress"] == ADDRESS


async def test_reasons_name_what_is_missing(client: httpx.AsyncClient) -> None:
    query = "query($id: IdNumber!) { person(idNumber: $id) { annualIncome taxCompliant } }"
    clerk = errors_by_path(
        await graphql(client, query, {"id": ZHANG_WEI}, bearer("window_clerk", "housing-subsidy"))
    )
    assert clerk[("person", "taxCompliant")]["extensions"]["reason"] == "no grant for role window_clerk"
    assert clerk[("person", "annualIncome")]["extensions"]["reason"].startswith("verify only")

    no_purpose = errors_by_path(await graphql(client, query, {"id": ZHANG_WEI}, bearer("tax_officer")))
    assert no_purpose[("person", "annualIncome")]["extensions"]["reason"] == "purpose required"

    wrong_purpose = errors_by_path(
        await graphql(client, query, {"id": ZHANG_WEI}, bearer("tax_officer", "housing-subsidy"))
    )
    assert (
        wrong_purpose[("person", "annualIncome")]["extensions"]["reason"]
        == "purpose housing-subsidy not granted"
    )

    assert "186000" not in str(clerk) + str(no_purpose) + str(wrong_purpose)


async def test_a_death_is_read_for_subsistence_and_pension_reviews_only(client: httpx.AsyncClient) -> None:
    query = "query($id: IdNumber!) { person(idNumber: $id) { deceased dateOfDeath } }"
    for role, purpose in (
        ("civil_affairs_officer", "subsistence-review"),
        ("pension_officer", "pension-review"),
    ):
        body = await graphql(client, query, {"id": WANG_JIANGUO}, bearer(role, purpose))
        assert "errors" not in body, role
        assert body["data"]["person"] == {"deceased": False, "dateOfDeath": None}

    clerk = errors_by_path(
        await graphql(client, query, {"id": WANG_JIANGUO}, bearer("window_clerk", "housing-subsidy"))
    )
    assert clerk[("person", "deceased")]["extensions"]["code"] == "FORBIDDEN"
    assert clerk[("person", "dateOfDeath")]["extensions"]["code"] == "FORBIDDEN"
    wrong_purpose = errors_by_path(
        await graphql(client, query, {"id": WANG_JIANGUO}, bearer("pension_officer", "subsistence-review"))
    )
    assert wrong_purpose[("person", "deceased")]["extensions"]["code"] == "FORBIDDEN"


async def test_purpose_from_header_overrides_none_in_token(client: httpx.AsyncClient) -> None:
    headers = {**bearer("tax_officer"), "X-Purpose": "tax-audit"}
    body = await graphql(
        client, "query($id: IdNumber!) { person(idNumber: $id) { annualIncome } }", {"id": ZHANG_WEI}, headers
    )

    assert body["data"]["person"]["annualIncome"] == INCOME


async def test_anonymous_reads_public_fields_only(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": "query($id: IdNumber!, $code: CreditCode!) { person(idNumber: $id) { name } "
            "enterprise(creditCode: $code) { name status legalRepresentative { name } taxCreditRating } }",
            "variables": {"id": ZHANG_WEI, "code": OLD_TOWN_TRADING},
        },
    )
    body = response.json()
    errors = errors_by_path(body)

    assert body["data"]["person"] is None
    assert errors[("person",)]["extensions"]["reason"] == "authentication required"
    assert body["data"]["enterprise"]["name"] == "北京旧城贸易有限公司"
    assert body["data"]["enterprise"]["legalRepresentative"] is None
    assert body["data"]["enterprise"]["taxCreditRating"] is None
    assert errors[("enterprise", "taxCreditRating")]["extensions"]["code"] == "FORBIDDEN"
    assert "张伟" not in response.text


async def test_verify_answers_yes_or_no_without_the_value(client: httpx.AsyncClient) -> None:
    query = """
    query($id: IdNumber!) {
      person(idNumber: $id) {
        verify { low: annualIncome(lt: 60000) high: annualIncome(gte: 100000) properties(exists: true) }
      }
    }"""
    zhang = await client.post(
        "/graphql",
        json={"query": query, "variables": {"id": ZHANG_WEI}},
        headers=bearer("window_clerk", "housing-subsidy"),
    )
    li = await graphql(client, query, {"id": LI_NA}, bearer("window_clerk", "housing-subsidy"))
    wang = await graphql(
        client, query, {"id": WANG_JIANGUO}, bearer("civil_affairs_officer", "subsistence-review")
    )

    assert zhang.json()["data"]["person"]["verify"] == {"low": False, "high": True, "properties": True}
    assert str(INCOME) not in zhang.text
    assert li["data"]["person"]["verify"] == {"low": True, "high": False, "properties": True}
    assert wang["data"]["person"]["verify"] == {"low": True, "high": False, "properties": False}


async def test_verify_is_denied_without_a_grant(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { verify { annualIncome(lt: 60000) } } }",
        {"id": ZHANG_WEI},
        bearer("police_officer", "household-admin"),
    )

    assert body["data"]["person"]["verify"]["annualIncome"] is None
    error = errors_by_path(body)[("person", "verify", "annualIncome")]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_verify_needs_a_condition(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { verify { annualIncome } } }",
        {"id": ZHANG_WEI},
        bearer("window_clerk", "housing-subsidy"),
    )

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at least one condition" in body["errors"][0]["message"]


async def test_amount_band_for_a_masked_grant_and_read(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { annualIncome annualIncomeBand } }",
        {"id": ZHANG_WEI},
        bearer("tax_officer", "tax-audit"),
    )

    assert body["data"]["person"] == {"annualIncome": INCOME, "annualIncomeBand": "100000-200000"}


ATTEMPTS = {
    "alias": "query($id: IdNumber!) { person(idNumber: $id) { pay: annualIncome } }",
    "field twice": "query($id: IdNumber!) { person(idNumber: $id) { a: annualIncome b: annualIncome name } }",
    "fragment on spouse": """
        query($id: IdNumber!) { person(idNumber: $id) { spouse { ...Income } } }
        fragment Income on Person { annualIncome name }""",
    "inline fragment": "query($id: IdNumber!) { person(idNumber: $id) { ... on Person { annualIncome } } }",
    "nested inline in fragment": """
        query($id: IdNumber!) { person(idNumber: $id) { ...Outer } }
        fragment Outer on Person { spouse { spouse { ... on Person { x: annualIncome } } } }""",
    "typename probing": "query($id: IdNumber!) { person(idNumber: $id) { __typename annualIncome __typename } }",
    "persons batch": f'{{ persons(idNumbers: ["{ZHANG_WEI}", "{LI_NA}", "{ZHANG_WEI}"]) {{ annualIncome name }} }}',
    "owners path": """
        query($id: IdNumber!) { person(idNumber: $id) { properties { owners { person { annualIncome } } } } }""",
    "skip false": "query($id: IdNumber!, $no: Boolean = false) { person(idNumber: $id) { annualIncome @skip(if: $no) } }",
    "federation entities": '{ _entities(representations: [{__typename: "Person", idNumber: "%s"}]) { ... on Person { annualIncome name } } }'
    % ZHANG_WEI,
}


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
async def test_attempts_to_get_around_the_rules_leak_nothing(client: httpx.AsyncClient, attempt: str) -> None:
    response = await client.post(
        "/graphql",
        json={"query": ATTEMPTS[attempt], "variables": {"id": ZHANG_WEI}},
        headers=bearer("window_clerk", "housing-subsidy"),
    )

    assert response.status_code == 200
    assert str(INCOME) not in response.text
    assert "54000" not in response.text
    body = response.json()
    assert any(error["extensions"]["code"] == "FORBIDDEN" for error in body["errors"])


async def test_get_requests_obey_the_same_rules(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": '{ person(idNumber: "%s") { annualIncome registeredAddress } }' % ZHANG_WEI},
        headers={**bearer("window_clerk", "housing-subsidy"), "GraphQL-Require-Preflight": "1"},
    )

    assert response.status_code == 200
    assert str(INCOME) not in response.text and "景山前街" not in response.text
    assert response.json()["data"]["person"]["registeredAddress"] == ADDRESS_MASKED


async def test_legal_representative_address_through_fragment_is_masked(client: httpx.AsyncClient) -> None:
    query = """
    query($code: CreditCode!) { enterprise(creditCode: $code) { legalRepresentative { ...Where } } }
    fragment Where on Person { registeredAddress household { address } }"""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"code": "91110101MA01BXQ80Y"}},
        headers=bearer("window_clerk", "housing-subsidy"),
    )

    assert "景山前街" not in response.text
    representative = response.json()["data"]["enterprise"]["legalRepresentative"]
    assert representative == {"registeredAddress": ADDRESS_MASKED, "household": {"address": ADDRESS_MASKED}}


async def test_denied_department_is_not_queried(client: httpx.AsyncClient, queries: QueryCounter) -> None:
    queries.reset()
    await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { name annualIncome subsistenceAllowance { status } } }",
        {"id": ZHANG_WEI},
        bearer("window_clerk", "housing-subsidy"),
    )

    assert queries.counts["taxation"] == 0
    assert queries.counts["civil_affairs"] == 0
    assert queries.counts["public_security"] <= 1


async def test_role_outside_its_department_is_not_effective(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($id: IdNumber!) { person(idNumber: $id) { annualIncome } me { roles effectiveRoles } }",
        {"id": ZHANG_WEI},
        bearer("tax_officer", "tax-audit", department="government_service_center"),
    )

    assert body["data"]["person"]["annualIncome"] is None
    assert body["data"]["me"] == {"roles": ["tax_officer"], "effectiveRoles": []}


async def test_me_shows_principal_and_effective_grants(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "{ me { authenticated subject department roles purpose grants { role mode fields purposes } access { coordinate access } } }",
        headers=bearer("window_clerk", "housing-subsidy", subject="clerk-007"),
    )

    me = body["data"]["me"]
    assert (me["authenticated"], me["subject"], me["department"], me["purpose"]) == (
        True,
        "clerk-007",
        "government_service_center",
        "housing-subsidy",
    )
    access = {entry["coordinate"]: entry["access"] for entry in me["access"]}
    assert access["Person.annualIncome"] == "verify"
    assert access["Person.registeredAddress"] == "mask"
    assert access["Person.maritalStatus"] == "read"
    assert "Person.subsistenceAllowance" not in access
    assert {grant["mode"] for grant in me["grants"]} == {"read", "verify", "mask"}


async def test_catalog_lists_only_what_the_caller_may_see(client: httpx.AsyncClient) -> None:
    query = "{ catalog { departments { id fields } entities { name fields { coordinate classification access frequency } } } }"
    anonymous = (await graphql(client, query))["data"]["catalog"]
    clerk = (await graphql(client, query, headers=bearer("window_clerk", "housing-subsidy")))["data"][
        "catalog"
    ]

    anonymous_fields = {field["coordinate"] for entity in anonymous["entities"] for field in entity["fields"]}
    assert anonymous_fields and all(coordinate.startswith("Enterprise.") for coordinate in anonymous_fields)
    assert [department["id"] for department in anonymous["departments"]] == ["market_regulation"]
    clerk_fields = {
        field["coordinate"]: field["access"] for entity in clerk["entities"] for field in entity["fields"]
    }
    assert clerk_fields["Person.annualIncome"] == "verify"
    assert "Person.subsistenceAllowance" not in clerk_fields
    assert "Person.criminalRecord" not in clerk_fields


async def test_suggestions_help_in_development_but_never_name_what_is_not_shared(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": '{ person(idNumber: "%s") { annualIncom criminalRecor } }' % ZHANG_WEI}
    )

    assert "Did you mean 'annualIncome'" in response.text
    assert "criminalRecord" not in response.text


async def test_a_value_cannot_be_bisected_with_many_verify_questions(client: httpx.AsyncClient) -> None:
    thresholds = [200000, 150000, 175000, 187500]
    checks = " ".join(f"t{value}: annualIncome(lt: {value})" for value in thresholds)
    body = await graphql(
        client,
        f"query($id: IdNumber!) {{ person(idNumber: $id) {{ verify {{ {checks} }} }} }}",
        {"id": ZHANG_WEI},
        bearer("window_clerk", "housing-subsidy"),
    )

    answers = body["data"]["person"]["verify"]
    assert [answers[f"t{value}"] for value in thresholds[:3]] == [True, False, False]
    assert answers["t187500"] is None
    [error] = body["errors"]
    assert error["path"] == ["person", "verify", "t187500"]
    assert "at most 3 different yes/no questions" in error["extensions"]["reason"]
