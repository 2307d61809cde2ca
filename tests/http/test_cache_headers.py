"""A cache between govgraph and its caller (a federation router, a CDN, a browser) may keep only what is the same
for anyone: every response holding anything an audit record would hold is ``private, no-store``."""

from __future__ import annotations

import time

import httpx
import pytest

from govgraph.cache.freshness import Freshness
from govgraph.demo.golden import EXAMPLE_TECH, ZHANG_WEI
from govgraph.http.caching import LIVE_PUBLIC, PRIVATE, cache_control
from tests.auth_helpers import bearer

TAX = bearer("tax_officer", "tax-audit")
CLERK = bearer("window_clerk", "housing-subsidy")
POLICE = bearer("police_officer", "household-admin")
PUBLIC_QUERY = f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ name status }} }}'

PRIVATE_CASES = {
    "a sensitive value read": (f'{{ person(idNumber: "{ZHANG_WEI}") {{ annualIncome }} }}', TAX),
    "a masked value": (f'{{ person(idNumber: "{ZHANG_WEI}") {{ registeredAddress }} }}', CLERK),
    "a yes/no answer": (
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ verify {{ annualIncome(lt: 60000) }} }} }}',
        CLERK,
    ),
    "an internal value": (f'{{ person(idNumber: "{ZHANG_WEI}") {{ name }} }}', POLICE),
    "a denial": (f'{{ person(idNumber: "{ZHANG_WEI}") {{ annualIncome }} }}', POLICE),
    "the principal itself": ("{ me { roles } }", TAX),
    "the principal, aliased as an entity root": ("{ enterprise: me { roles } }", TAX),
    "public fields beside the principal": (
        f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ name }} me {{ roles }} }}',
        TAX,
    ),
    "public fields with an error": ('{ enterprise(creditCode: "not-a-credit-code") { name } }', TAX),
    "a public entity reached through a person": (
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ enterprises {{ name }} }} }}',
        TAX,
    ),
    "the schema": ("{ __schema { queryType { name } } }", TAX),
}


@pytest.mark.parametrize("case", PRIVATE_CASES)
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_anything_but_public_fields_is_private_and_not_stored(
    client: httpx.AsyncClient, case: str, method: str
) -> None:
    query, headers = PRIVATE_CASES[case]
    if method == "POST":
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    else:
        preflighted = {**headers, "graphql-require-preflight": "1"}
        response = await client.get("/graphql", params={"query": query}, headers=preflighted)
    assert response.headers["cache-control"] == PRIVATE, response.text


async def test_a_refused_document_is_private_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ person(idNumber: "}, headers=TAX)
    assert response.headers["cache-control"] == PRIVATE


@pytest.mark.parametrize("headers", [TAX, {}], ids=["officer", "anonymous"])
async def test_public_fields_of_an_entity_root_are_public_for_as_long_as_they_are_fresh(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/graphql", json={"query": PUBLIC_QUERY}, headers=headers)
    assert "errors" not in response.json()
    control = response.headers["cache-control"]
    freshness = response.json()["extensions"]["freshness"]
    if any(part["maxAge"] is None for part in freshness):
        assert control == LIVE_PUBLIC  # market regulation is realtime: read live, kept by nobody
    else:
        assert control.startswith("public, max-age=")


def test_max_age_is_what_the_oldest_part_has_left() -> None:
    now = time.time()
    freshness = Freshness()
    freshness.record("civil_affairs", now - 100, "cache", 3600)
    freshness.record("market_regulation", now - 10, "cache", 600)

    def control(**overrides: object) -> str:
        options: dict[str, object] = {
            "public_only": True,
            "errors": False,
            "root_fields": {"person"},
            "shareable_roots": {"person", "enterprise"},
            "freshness": freshness,
            "now": now,
        }
        return cache_control(**{**options, **overrides})  # type: ignore[arg-type]

    assert control() == "public, max-age=590"
    assert control(public_only=False) == PRIVATE
    assert control(errors=True) == PRIVATE
    assert control(root_fields={"person", "me"}) == PRIVATE
    assert control(root_fields=set()) == PRIVATE
    freshness.record("taxation", now, "live", None)
    assert control() == LIVE_PUBLIC
    expired = Freshness()
    expired.record("civil_affairs", now - 7200, "cache", 3600)
    assert control(freshness=expired) == LIVE_PUBLIC
