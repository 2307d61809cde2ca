"""A field's protection is not undone through another field: the clerk's addresses are masked everywhere."""

from __future__ import annotations

import httpx

from tests.auth_helpers import bearer
from tests.security.corpus import ZHANG_WEI

FULL_ADDRESS = "北京市东城区景山前街4号院2号楼301"


async def test_every_address_the_clerk_can_reach_is_masked(client: httpx.AsyncClient) -> None:
    query = f"""{{ person(idNumber: "{ZHANG_WEI}") {{
        registeredAddress
        household {{ address members {{ registeredAddress }} }}
        properties {{ address owners {{ person {{ registeredAddress properties {{ address }} }} }} }}
        spouse {{ registeredAddress properties {{ address }} }}
    }} }}"""
    response = await client.post(
        "/graphql", json={"query": query}, headers=bearer("window_clerk", "housing-subsidy")
    )
    body = response.json()
    assert "errors" not in body, body
    assert "景山前街" not in response.text
    person = body["data"]["person"]
    assert person["registeredAddress"] == "北京市东城区"
    assert {item["address"] for item in person["properties"]} == {"北京市东城区"}


async def test_the_officers_who_may_read_addresses_still_do(client: httpx.AsyncClient) -> None:
    query = f'{{ person(idNumber: "{ZHANG_WEI}") {{ properties {{ address }} }} }}'
    body = (
        await client.post("/graphql", json={"query": query}, headers=bearer("tax_officer", "tax-audit"))
    ).json()
    assert body["data"]["person"]["properties"][0]["address"].startswith("北京市东城区")
    assert len(body["data"]["person"]["properties"][0]["address"]) > len("北京市东城区")
