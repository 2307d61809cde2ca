"""The golden records, joined from all six departments, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.auth_helpers import bearer
from tests.conftest import graphql

TAX = bearer("tax_officer", "tax-audit")
CIVIL = bearer("civil_affairs_officer", "subsistence-review")
POLICE = bearer("police_officer", "household-admin")

ZHANG_WEI = "110101199003071233"
LI_NA = "110101199208152467"
WANG_JIANGUO = "110105196504123312"
EXAMPLE_TECH = "91110101MA01BXQ80Y"
OLD_TOWN_TRADING = "91110105MA00GK2T0A"
GOLDEN_PROPERTY = "京(2019)东城区不动产权第0001234号"

GOLDEN_PERSON_QUERY = """
query Golden($id: IdNumber!) {
  person(idNumber: $id) {
    idNumber name gender birthDate ethnicity
    household { householdId }
    maritalStatus
    spouse { idNumber name }
    socialInsurance { pensionInsured contributionMonths lastPaidMonth employer { creditCode name } }
    annualIncome taxCompliant
    enterprises { creditCode name status }
    properties { certificateNo mortgaged owners { share person { idNumber } } }
  }
}
"""


async def test_golden_person_joins_all_six_departments(client: httpx.AsyncClient) -> None:
    body = await graphql(client, GOLDEN_PERSON_QUERY, {"id": ZHANG_WEI}, TAX)

    assert "errors" not in body
    person = body["data"]["person"]
    assert person["idNumber"] == ZHANG_WEI
    assert (person["name"], person["gender"], person["birthDate"], person["ethnicity"]) == (
        "张伟",
        "male",
        "1990-03-07",
        "Han",
    )
    assert person["household"] == {"householdId": "H110101000001"}
    assert person["maritalStatus"] == "married"
    assert person["spouse"] == {"idNumber": LI_NA, "name": "李娜"}
    insurance = person["socialInsurance"]
    assert insurance["pensionInsured"] is True
    assert insurance["contributionMonths"] == 96
    assert insurance["employer"] == {"creditCode": EXAMPLE_TECH, "name": "北京示例科技有限公司"}
    assert person["annualIncome"] == 186000
    assert person["taxCompliant"] is True
    assert {"creditCode": EXAMPLE_TECH, "name": "北京示例科技有限公司", "status": "存续"} in person[
        "enterprises"
    ]
    [golden_property] = [p for p in person["properties"] if p["certificateNo"] == GOLDEN_PROPERTY]
    assert golden_property["mortgaged"] is True
    owners = {owner["person"]["idNumber"]: owner["share"] for owner in golden_property["owners"]}
    assert owners == {ZHANG_WEI: 50.0, LI_NA: 50.0}


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await graphql(client, "{ __typename }")
    second = await graphql(client, "{ __typename }")

    assert len(first["extensions"]["requestId"]) == 32
    assert first["extensions"]["requestId"] != second["extensions"]["requestId"]


async def test_person_spouse_properties_owners_resolve(client: httpx.AsyncClient) -> None:
    query = """
    query($id: IdNumber!) {
      person(idNumber: $id) {
        spouse { name properties { certificateNo owners { share person { name spouse { name } } } } }
      }
    }"""
    body = await graphql(client, query, {"id": ZHANG_WEI}, TAX)

    assert "errors" not in body
    spouse = body["data"]["person"]["spouse"]
    assert spouse["name"] == "李娜"
    [golden_property] = [p for p in spouse["properties"] if p["certificateNo"] == GOLDEN_PROPERTY]
    names = sorted(
        (owner["person"]["name"], owner["person"]["spouse"]["name"]) for owner in golden_property["owners"]
    )
    assert names == [("张伟", "李娜"), ("李娜", "张伟")]


async def test_enterprise_legal_representative_household_members_resolve(client: httpx.AsyncClient) -> None:
    query = """
    query($code: CreditCode!) {
      enterprise(creditCode: $code) {
        name status establishedDate registeredCapital taxCreditRating taxArrears insuredEmployees
        legalRepresentative { name household { householdId members { idNumber name } } }
      }
    }"""
    body = await graphql(client, query, {"code": EXAMPLE_TECH}, TAX)

    assert "errors" not in body
    enterprise = body["data"]["enterprise"]
    assert enterprise["name"] == "北京示例科技有限公司"
    assert enterprise["establishedDate"] == "2018-05-20"
    assert enterprise["registeredCapital"] == 1000000
    assert enterprise["taxCreditRating"] == "A"
    assert enterprise["taxArrears"] == 0
    assert enterprise["insuredEmployees"] == 12
    household = enterprise["legalRepresentative"]["household"]
    assert household["householdId"] == "H110101000001"
    assert {member["idNumber"] for member in household["members"]} == {ZHANG_WEI, LI_NA}


async def test_household_address_for_household_administration(client: httpx.AsyncClient) -> None:
    query = """
    query($code: CreditCode!) {
      enterprise(creditCode: $code) { legalRepresentative { registeredAddress household { address } } }
    }"""
    body = await graphql(client, query, {"code": EXAMPLE_TECH}, POLICE)

    assert "errors" not in body
    representative = body["data"]["enterprise"]["legalRepresentative"]
    assert representative == {
        "registeredAddress": "北京市东城区景山前街4号院2号楼301",
        "household": {"address": "北京市东城区景山前街4号院2号楼301"},
    }


async def test_revoked_enterprise_and_divorced_person(client: httpx.AsyncClient) -> None:
    tax_query = """
    query($code: CreditCode!, $id: IdNumber!) {
      enterprise(creditCode: $code) { name status abnormalOperation taxCreditRating taxArrears }
      person(idNumber: $id) { name annualIncome socialInsurance { contributionMonths } }
    }"""
    civil_query = """
    query($id: IdNumber!) {
      person(idNumber: $id) { maritalStatus spouse { name } subsistenceAllowance { status monthlyAmount } properties { certificateNo } }
    }"""
    tax = await graphql(client, tax_query, {"code": OLD_TOWN_TRADING, "id": WANG_JIANGUO}, TAX)
    civil = await graphql(client, civil_query, {"id": WANG_JIANGUO}, CIVIL)

    assert "errors" not in tax and "errors" not in civil
    assert tax["data"]["enterprise"] == {
        "name": "北京旧城贸易有限公司",
        "status": "吊销",
        "abnormalOperation": True,
        "taxCreditRating": "D",
        "taxArrears": 35000.5,
    }
    assert tax["data"]["person"] == {"name": "王建国", "annualIncome": 0, "socialInsurance": None}
    assert civil["data"]["person"] == {
        "maritalStatus": "divorced",
        "spouse": None,
        "subsistenceAllowance": {"status": "active", "monthlyAmount": 1200.0},
        "properties": [],
    }


async def test_unknown_key_is_null_not_an_error(client: httpx.AsyncClient) -> None:
    unknown_person = "110101200001010002"
    body = await graphql(
        client,
        "query($ids: [IdNumber!]!, $id: IdNumber!) { persons(idNumbers: $ids) { name } person(idNumber: $id) { name } }",
        {"ids": [ZHANG_WEI, unknown_person, LI_NA], "id": unknown_person},
        TAX,
    )

    assert "errors" not in body
    assert body["data"]["person"] is None
    assert body["data"]["persons"] == [{"name": "张伟"}, None, {"name": "李娜"}]


async def test_malformed_keys_are_bad_user_input_with_the_reason(client: httpx.AsyncClient) -> None:
    cases = {
        '{ person(idNumber: "110101199003071234") { name } }': "check character",
        '{ person(idNumber: "11010119900307123") { name } }': "18 characters",
        '{ person(idNumber: "110101199013071233") { name } }': "birth date",
        '{ enterprise(creditCode: "91110101MA01BXQ80Z") { name } }': "uses only",
        '{ enterprise(creditCode: "91110101MA01BXQ80A") { name } }': "check character",
    }
    for query, reason in cases.items():
        body = await graphql(client, query)
        assert body["data"] is None, query
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", query
        assert reason in error["message"], (query, error["message"])


async def test_malformed_key_in_variables_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name } }",
        {"ids": [ZHANG_WEI, "12345"]},
    )

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "18 characters" in error["message"]


async def test_not_shared_fields_are_absent_from_schema_and_responses(client: httpx.AsyncClient) -> None:
    sdl = (await graphql(client, "{ _service { sdl } }"))["data"]["_service"]["sdl"]
    for name in ("criminalRecord", "bankAccount", "medicalDiagnosis", "disabilityGrade", "investigationNote"):
        assert name not in sdl

    response = await client.post(
        "/graphql", json={"query": '{ person(idNumber: "%s") { criminalRecord } }' % ZHANG_WEI}
    )
    assert "GOLDEN-NOT-SHARED" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in response.text


async def test_enterprise_directory_pages_by_cursor(client: httpx.AsyncClient) -> None:
    query = 'query($after: String) { enterpriseDirectory(first: 50, after: $after, status: "存续") { edges { cursor node { creditCode status } } pageInfo { hasNextPage endCursor } } }'
    seen: list[str] = []
    after = None
    for _ in range(3):
        page = (await graphql(client, query, {"after": after}))["data"]["enterpriseDirectory"]
        seen.extend(edge["node"]["creditCode"] for edge in page["edges"])
        assert all(edge["node"]["status"] == "存续" for edge in page["edges"])
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 150
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)


async def test_enterprise_directory_rejects_bad_arguments(client: httpx.AsyncClient) -> None:
    too_many = await graphql(client, "{ enterpriseDirectory(first: 1000) { pageInfo { hasNextPage } } }")
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_cursor = await graphql(
        client, '{ enterpriseDirectory(after: "not-a-cursor") { pageInfo { hasNextPage } } }'
    )
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_graphiql_on_browser_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_get_query(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": '{ enterprise(creditCode: "%s") { name } }' % EXAMPLE_TECH},
        headers={"GraphQL-Require-Preflight": "1"},
    )

    assert response.status_code == 200
    assert response.json()["data"]["enterprise"]["name"] == "北京示例科技有限公司"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert {department["status"] for department in ready.json()["departments"].values()} == {"ok"}
    assert len(ready.json()["departments"]) == 6
    assert ready.json()["audit"] == {"status": "ok"}
