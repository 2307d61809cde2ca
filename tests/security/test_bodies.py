"""Bad input of any shape is a 400 GraphQL error with the request id, never a crash or INTERNAL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from govgraph.auth.tokens import DEMO_SECRET
from tests.auth_helpers import bearer
from tests.security.corpus import EXAMPLE_TECH, ZHANG_WEI

PREFLIGHT = {"GraphQL-Require-Preflight": "1"}


def assert_bad_request(response: httpx.Response, phrase: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert phrase in error["message"], error["message"]
    assert body["extensions"]["requestId"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    "body, phrase",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels"),
        (b"[" * 10_000, "nested more than 32 levels"),
        (
            b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}",
            "nested more than 32 levels",
        ),
        (
            b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
            "nested more than 32 levels",
        ),
        (b'{"query": "{ __typename }"', "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b'{"query": 1}', "query must be a string"),
        (b'{"query": "{ __typename }", "operationName": []}', "operationName must be a string"),
        (b'{"query": "{ __typename }", "variables": "x"}', "variables must be a JSON object"),
        (b'{"query": "{ __typename }", "extensions": [1]}', "extensions must be a JSON object"),
        (b'{"query": "{ __typename }", "variables": {"x": "\\ud800"}}', "not valid Unicode"),
        (b'{"query": "{ __typename \\udc00 }"}', "not valid Unicode"),
        (b'{"query\\ud800": "{ __typename }"}', "not valid Unicode"),
        (b"5", "must be a JSON object"),
    ],
)
async def test_malformed_bodies_are_clear_400s(client: httpx.AsyncClient, body: bytes, phrase: str) -> None:
    response = await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert_bad_request(response, phrase)


@pytest.mark.parametrize(
    "parameters, phrase",
    [
        ({"query": "{ __typename }", "variables": "[" * 50 + "]" * 50}, "nested more than 32 levels"),
        ({"query": "{ __typename }", "variables": "{nope"}, "variables parameter is not valid JSON"),
        ({"query": "{ __typename }", "extensions": "[]"}, "extensions must be a JSON object"),
    ],
)
async def test_malformed_get_parameters_are_clear_400s(
    client: httpx.AsyncClient, parameters: dict[str, str], phrase: str
) -> None:
    assert_bad_request(await client.get("/graphql", params=parameters, headers=PREFLIGHT), phrase)


@pytest.mark.parametrize("capital, income", [(10**40, 1), (1, 10**40), (-(10**400), 1)])
async def test_a_huge_integer_in_variables_is_bad_user_input_not_internal(
    client: httpx.AsyncClient, capital: int, income: int
) -> None:
    query = (
        "query($id: IdNumber!, $capital: Float, $income: Int) {"
        " person(idNumber: $id) { name verify { annualIncome(lt: $income) } }"
        f' enterprise(creditCode: "{EXAMPLE_TECH}") {{ verify {{ registeredCapital(gt: $capital) }} }} }}'
    )
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"id": ZHANG_WEI, "capital": capital, "income": income}},
        headers=bearer("window_clerk", "housing-subsidy"),
    )
    body = response.json()
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_USER_INPUT"]
    assert "INTERNAL" not in response.text


async def test_a_token_with_an_unprintable_subject_is_refused(client: httpx.AsyncClient) -> None:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    token = jwt.encode(
        {
            "sub": "officer\ud800",
            "dept": "taxation",
            "roles": ["tax_officer"],
            "exp": now + datetime.timedelta(minutes=5),
        },
        DEMO_SECRET,
        json_encoder=_SurrogateEncoder,
    )
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "claim sub must be printable" in response.json()["errors"][0]["message"]


class _SurrogateEncoder(json.JSONEncoder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = True
        super().__init__(*args, **kwargs)
