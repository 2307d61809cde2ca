"""One reading of each operation: written with fragments, directives, aliases and variables, or written
plainly, an operation gets the same answer. A generated corpus against an independent rewriting."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth_helpers import bearer
from tests.security.corpus import ZHANG_WEI, generate
from tests.security.normalize import Unexpressible, normalize

ROLES = [
    bearer("window_clerk", "housing-subsidy"),
    bearer("tax_officer", "tax-audit"),
    bearer("civil_affairs_officer", "subsistence-review"),
    bearer("police_officer", "household-admin"),
    {},
]


def located(body: dict[str, Any]) -> set[tuple[tuple[Any, ...], str]]:
    return {(tuple(error.get("path") or ()), error["extensions"]["code"]) for error in body.get("errors", ())}


async def test_generated_operations_answer_as_their_plain_rewriting(
    app: Any, client: httpx.AsyncClient
) -> None:
    schema = app.state.schema._schema
    compared = 0
    for document in generate(schema, 80, seed=7):
        try:
            plain = normalize(schema, document.text, document.variables)
        except Unexpressible:
            continue
        for headers in ROLES:
            original = (
                await client.post(
                    "/graphql",
                    json={"query": document.text, "variables": document.variables},
                    headers=headers,
                )
            ).json()
            if any(
                error["extensions"]["code"] == "QUERY_TOO_COMPLEX" for error in original.get("errors", ())
            ):
                continue
            rewritten = (await client.post("/graphql", json={"query": plain}, headers=headers)).json()
            assert original["data"] == rewritten["data"], (document.text, document.variables, plain)
            assert located(original) == located(rewritten), (document.text, plain)
            compared += 1
    assert compared > 300


async def test_fields_through_a_fragment_on_the_entity_union_are_resolved(client: httpx.AsyncClient) -> None:
    entity = f'{{__typename: "Person", idNumber: "{ZHANG_WEI}"}}'
    queries = [
        f"{{ _entities(representations: [{entity}]) {{ ... on _Entity {{ ... on Person {{ name maritalStatus }} }} }} }}",
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ ... on _Entity {{ ... on Person {{ name maritalStatus }} }} }} }}',
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ ...E }} }} fragment E on _Entity {{ ... on Person {{ name maritalStatus }} }}',
    ]
    for query in queries:
        body = (
            await client.post("/graphql", json={"query": query}, headers=bearer("tax_officer", "tax-audit"))
        ).json()
        assert "errors" not in body, body
        [person] = body["data"].values()
        person = person[0] if isinstance(person, list) else person
        assert person == {"name": "张伟", "maritalStatus": "married"}
