"""Bounded work for every document: limits count what execution will really do, and measuring stays linear.

Measuring time is left to ``bench/limits.py``; here the work is counted: the
number of distinct selections the measurement collects grows with the
document's size, however many times its fragments fan out.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from govgraph.operation.collection import FieldCollection, operation_of
from govgraph.operation.limits import Limits, measure
from tests.auth_helpers import bearer
from tests.conftest import QueryCounter
from tests.security.corpus import EXAMPLE_TECH, ZHANG_WEI

TAX = bearer("tax_officer", "tax-audit")


def spread_twice(levels: int) -> str:
    """Each fragment spreads the next twice in one selection set: execution collects each once."""
    parts = [f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ ...F0 }} }}']
    parts += [f"fragment F{i} on Enterprise {{ name ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Enterprise {{ status }}")
    return "\n".join(parts)


def aliased_fan_out(levels: int) -> str:
    """Each fragment spreads the next under two aliases: the work doubles at every level."""
    parts = [f'{{ person(idNumber: "{ZHANG_WEI}") {{ ...F0 }} }}']
    parts += [
        f"fragment F{i} on Person {{ a{i}: spouse {{ ...F{i + 1} }} b{i}: spouse {{ ...F{i + 1} }} }}"
        for i in range(levels)
    ]
    parts.append(f"fragment F{levels} on Person {{ name }}")
    return "\n".join(parts)


def list_fan_out(levels: int) -> str:
    """No aliases: every level is a list, so each multiplies the objects below it."""
    parts = [f'{{ person(idNumber: "{ZHANG_WEI}") {{ ...F0 }} }}']
    parts += [
        f"fragment F{i} on Person {{ name household {{ members {{ ...F{i + 1} }} }} }}" for i in range(levels)
    ]
    parts.append(f"fragment F{levels} on Person {{ name }}")
    return "\n".join(parts)


def collection_for(app: Any, text: str, variables: dict[str, Any] | None = None) -> FieldCollection:
    from graphql.execution.collect_fields import FragmentDetails
    from graphql.execution.values import get_variable_values
    from graphql.language import FragmentDefinitionNode

    schema = app.state.schema._schema
    document = parse(text)
    operation = operation_of(document, None)
    assert operation is not None
    fragments = {
        definition.name.value: FragmentDetails(definition)
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    values = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    assert not isinstance(values, list)
    return FieldCollection(schema, fragments, values, operation)


@pytest.mark.parametrize("shape", [spread_twice, aliased_fan_out, list_fan_out])
def test_measuring_collects_a_number_of_selections_linear_in_the_document(app: Any, shape: Any) -> None:
    counts = []
    for levels in (8, 16, 32, 64):
        collection = collection_for(app, shape(levels))
        measure(collection, Limits())
        counts.append(collection.distinct_selections)
    per_level = [count / levels for count, levels in zip(counts, (8, 16, 32, 64), strict=True)]
    assert max(per_level) <= 2 * min(per_level) + 1, counts


def test_the_cost_counts_the_expanded_work(app: Any) -> None:
    # The root lookup, 2^k spouses at each of ten levels, and 2^10 names at the bottom.
    expanded = 1 + sum(2**level for level in range(1, 11)) + 2**10
    assert measure(collection_for(app, aliased_fan_out(10)), Limits()).cost == expanded
    # Spread twice in one selection set, a fragment is collected once, as execution does.
    assert measure(collection_for(app, spread_twice(40)), Limits()).cost == 1 + 2
    # Each level's members list multiplies what is below it by the estimate (3).
    cost = 1
    for _ in range(4):
        cost = 3 + 3 * cost
    assert measure(collection_for(app, list_fan_out(4)), Limits()).cost == 1 + cost


REFUSED = {
    "depth": aliased_fan_out(40),
    "alias count": aliased_fan_out(4),
    "estimated cost": list_fan_out(3).replace(
        f'{{ person(idNumber: "{ZHANG_WEI}")', "query($ids: [IdNumber!]!) { persons(idNumbers: $ids)", 1
    ),
}


@pytest.mark.parametrize("limit", list(REFUSED))
async def test_fan_out_is_refused_before_any_department_is_queried(
    client: httpx.AsyncClient, queries: QueryCounter, limit: str
) -> None:
    query = REFUSED[limit]
    variables = {"ids": [ZHANG_WEI] * 1000} if "$ids" in query else {}
    queries.reset()
    body = (await client.post("/graphql", json={"query": query, "variables": variables}, headers=TAX)).json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["limit"]) == ("QUERY_TOO_COMPLEX", limit)
    assert queries.total == 0


async def test_a_fragment_spread_twice_in_one_selection_runs_once(client: httpx.AsyncClient) -> None:
    body = (await client.post("/graphql", json={"query": spread_twice(60)})).json()
    assert body["data"] == {"enterprise": {"name": "北京示例科技有限公司", "status": "存续"}}


@pytest.mark.parametrize("field", ["__typename", "__schema { queryType { name } }", "name"])
async def test_every_field_counts_towards_the_alias_limit(client: httpx.AsyncClient, field: str) -> None:
    inner = " ".join(f"a{index}: {field}" for index in range(16))
    query = (
        f"{{ {inner} }}"
        if field.startswith("__")
        else f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ {inner} }} }}'
    )
    body = (await client.post("/graphql", json={"query": query})).json()
    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "alias count",
        "maximum": 15,
        "measured": 16,
    }


async def test_aliases_in_a_reused_fragment_count_at_every_place_it_is_spread(
    client: httpx.AsyncClient,
) -> None:
    query = (
        f'{{ a: enterprise(creditCode: "{EXAMPLE_TECH}") {{ ...E }} b: enterprise(creditCode: "{EXAMPLE_TECH}") {{ ...E }} }}'
        " fragment E on Enterprise { x1: name x2: name x3: name x4: name x5: name x6: name x7: name }"
    )
    body = (await client.post("/graphql", json={"query": query})).json()
    assert body["errors"][0]["extensions"]["measured"] == 16


def representations(count: int) -> list[dict[str, str]]:
    return [{"__typename": "Enterprise", "creditCode": EXAMPLE_TECH} for _ in range(count)]


ENTITIES = (
    "query($r: [_Any!]!) { _entities(representations: $r) { ... on Enterprise { name "
    "legalRepresentative { properties { owners { person { properties { owners { share } } } } } } } } }"
)


async def test_entities_representations_count_as_keys(
    client: httpx.AsyncClient, queries: QueryCounter
) -> None:
    queries.reset()
    body = (
        await client.post(
            "/graphql",
            json={
                "query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
                "variables": {"r": representations(1001)},
            },
        )
    ).json()
    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "number of keys",
        "maximum": 1000,
        "measured": 1001,
    }
    assert queries.total == 0


async def test_entities_representations_multiply_the_cost_below_them(
    client: httpx.AsyncClient, queries: QueryCounter
) -> None:
    queries.reset()
    body = (
        await client.post(
            "/graphql", json={"query": ENTITIES, "variables": {"r": representations(1000)}}, headers=TAX
        )
    ).json()
    error = body["errors"][0]["extensions"]
    # Per enterprise: its name, and its representative's properties' owners' properties' owners (lists of 3).
    inner_properties = 1 + 3 * (1 + 3 * 1)
    per_enterprise = 1 + 1 + 1 + 3 * (1 + 3 * (1 + inner_properties))
    assert (error["limit"], error["measured"]) == ("estimated cost", 1 + 1000 * per_enterprise)
    assert queries.total == 0


async def test_circular_introspection_is_refused_but_graphiqls_is_served(client: httpx.AsyncClient) -> None:
    circular = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    body = (await client.post("/graphql", json={"query": circular})).json()
    assert body["data"] is None
    # graphql-core's own validation refuses it first; the operation's limit would as well.
    assert "introspection depth" in body["errors"][0]["message"]
    graphiql = (
        await client.post("/graphql", json={"query": get_introspection_query(descriptions=True)})
    ).json()
    assert "errors" not in graphiql
    assert graphiql["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    "representation, problem",
    [
        ('{__typename: "Nope"}', "__typename must name an entity: Enterprise, Household, Person, Property"),
        ('{idNumber: "110101199003071233"}', "__typename must name an entity"),
        ('"Person"', "must be an object with __typename"),
        ('{__typename: "Person"}', "a Person needs idNumber as a string"),
        ('{__typename: "Person", idNumber: 7}', "a Person needs idNumber as a string"),
        (
            '{__typename: "Person", idNumber: "123"}',
            "invalid IdNumber: a resident ID number has 18 characters",
        ),
        ('{__typename: "Enterprise", creditCode: "91110101MA01BXQ80Z"}', "invalid CreditCode"),
    ],
)
async def test_malformed_representations_are_bad_user_input(
    client: httpx.AsyncClient, queries: QueryCounter, representation: str, problem: str
) -> None:
    queries.reset()
    query = f'{{ _entities(representations: [{{__typename: "Enterprise", creditCode: "{EXAMPLE_TECH}"}}, {representation}]) {{ __typename }} }}'
    response = await client.post("/graphql", json={"query": query}, headers=TAX)
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith(f"_entities representation 1: {problem}")
    assert "INTERNAL" not in response.text
    assert queries.total == 0
