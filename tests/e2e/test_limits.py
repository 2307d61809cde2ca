"""Query limits are checked before any department is queried."""

from __future__ import annotations

import datetime

import httpx
import pytest

from govgraph.identifiers import id_number_check_char
from tests.auth_helpers import bearer
from tests.conftest import AppFactory, QueryCounter

TAX = bearer("tax_officer", "tax-audit")
ZHANG_WEI = "110101199003071233"


def deep(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"spouse {{ {inner} }}"
    return f'{{ person(idNumber: "{ZHANG_WEI}") {{ {inner} }} }}'


def aliased(count: int) -> str:
    fields = " ".join(f"a{index}: name" for index in range(count))
    return f'{{ person(idNumber: "{ZHANG_WEI}") {{ {fields} }} }}'


def many_tokens(count: int) -> str:
    fields = " ".join("name" for _ in range(count))
    return f'{{ person(idNumber: "{ZHANG_WEI}") {{ {fields} }} }}'


CASES = {
    "depth": (deep(9), "depth", 8, 11),
    "aliases": (aliased(16), "alias count", 15, 16),
    "tokens": (many_tokens(1100), "token count", 1000, 1001),
    "document size": ("{ __typename }" + " " * 21_000, "document size in bytes", 20_000, 21_014),
    "cost": (
        "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { properties { owners { person { properties { owners { share } } } } } } }",
        "estimated cost",
        50_000,
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_limit_gets_its_error_and_no_source_is_queried(
    client: httpx.AsyncClient, queries: QueryCounter, case: str
) -> None:
    query, limit, maximum, measured = CASES[case]
    variables = {"ids": [ZHANG_WEI] * 1000} if "$ids" in query else {}
    queries.reset()
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=TAX)

    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == limit
    assert error["extensions"]["maximum"] == maximum
    if measured is not None:
        assert error["extensions"]["measured"] == measured
    assert error["extensions"]["measured"] > maximum
    assert queries.total == 0


async def test_more_than_1000_keys_is_refused_before_any_query(
    client: httpx.AsyncClient, queries: QueryCounter
) -> None:
    queries.reset()
    body = (
        await client.post(
            "/graphql",
            json={
                "query": "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name } }",
                "variables": {"ids": [ZHANG_WEI] * 1001},
            },
            headers=TAX,
        )
    ).json()

    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "number of keys",
        "maximum": 1000,
        "measured": 1001,
    }
    assert queries.total == 0


async def test_introspection_is_not_counted_against_depth(client: httpx.AsyncClient) -> None:
    query = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }"
    body = (await client.post("/graphql", json={"query": query})).json()

    assert "errors" not in body


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "graphql-core"])
async def test_a_raised_key_limit_lets_lists_that_long_through_and_no_longer(
    app_factory: AppFactory, compiled: bool
) -> None:
    _, client = await app_factory(max_keys=3000, compiled_plans=compiled)
    births = [datetime.date(1950, 1, 1) + datetime.timedelta(days=index) for index in range(3001)]
    keys = [f"110101{birth:%Y%m%d}001" for birth in births]
    keys = [key + id_number_check_char(key) for key in keys]
    assert len(set(keys)) == 3001
    keys[1234] = ZHANG_WEI
    query = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber } }"

    answered = (
        await client.post("/graphql", json={"query": query, "variables": {"ids": keys[:3000]}}, headers=TAX)
    ).json()
    assert "errors" not in answered
    assert len(answered["data"]["persons"]) == 3000
    assert answered["data"]["persons"][1234] == {"idNumber": ZHANG_WEI}

    refused = (
        await client.post("/graphql", json={"query": query, "variables": {"ids": keys}}, headers=TAX)
    ).json()
    assert refused["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "number of keys",
        "maximum": 3000,
        "measured": 3001,
    }
