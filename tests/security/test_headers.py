"""Headers a client writes cannot override what its token says, or where it comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from govgraph.audit.store import AuditFilter
from tests.auth_helpers import bearer, token
from tests.conftest import AppFactory
from tests.servers import govgraph_server

PERSON = '{ person(idNumber: "110101199003071233") { name maritalStatus } }'


async def post(client: httpx.AsyncClient, headers: dict[str, str], query: str = PERSON) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def test_the_tokens_purpose_binds(client: httpx.AsyncClient) -> None:
    agreeing = await post(
        client, {**bearer("window_clerk", "housing-subsidy"), "X-Purpose": "housing-subsidy"}
    )
    assert agreeing.json()["data"]["person"]["maritalStatus"] == "married"

    contradicting = await post(
        client, {**bearer("window_clerk", "housing-subsidy"), "X-Purpose": "tax-audit"}
    )
    assert contradicting.status_code == 400
    [error] = contradicting.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert (
        error["message"] == "X-Purpose tax-audit contradicts the token, which binds purpose housing-subsidy"
    )
    assert "married" not in contradicting.text


async def test_a_header_states_the_purpose_only_for_a_token_without_one(client: httpx.AsyncClient) -> None:
    stated = await post(client, {**bearer("window_clerk"), "X-Purpose": "housing-subsidy"})
    assert stated.json()["data"]["person"]["maritalStatus"] == "married"
    unstated = await post(client, bearer("window_clerk"))
    assert unstated.json()["errors"][0]["extensions"]["reason"] == "purpose required"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Purpose": "curiosity"},
        {"Authorization": f"Bearer {token('window_clerk')}", "X-Purpose": "curiosity"},
        {"Authorization": f"Bearer {token('window_clerk', 'curiosity')}"},
    ],
)
async def test_an_unknown_purpose_is_a_bad_request_listing_the_known_ones(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await post(client, headers)
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert message.startswith("unknown purpose curiosity; known purposes: ")
    assert "housing-subsidy" in message and "tax-audit" in message


async def test_a_department_claim_must_name_a_known_department(client: httpx.AsyncClient) -> None:
    response = await post(client, bearer("police_officer", department="ministry_of_truth"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == (
        "authentication failed: claim dept names no department known to this platform"
    )
    internal = await post(
        client,
        bearer("police_officer", department="ministry_of_truth"),
        '{ person(idNumber: "110101199003071233") { name } }',
    )
    assert "张伟" not in internal.text


async def audited_addresses(app: Any) -> list[str | None]:
    await app.state.audit_writer.flush()
    return [
        stored.record.client_address for stored in await app.state.audit_store.query(AuditFilter(), 50, None)
    ]


async def test_forwarded_headers_are_ignored_unless_the_peer_is_a_trusted_proxy(
    app_factory: AppFactory,
) -> None:
    app, client = await app_factory(rate_limit_anonymous=3)
    statuses = []
    for index in range(6):
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"X-Forwarded-For": f"198.51.100.{index}"}
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429, 429, 429], "rotating X-Forwarded-For must not rotate buckets"
    await post(client, {**bearer("police_officer"), "X-Forwarded-For": "198.51.100.77"})
    assert await audited_addresses(app) == ["127.0.0.1"]


@pytest.mark.parametrize(
    "forwarded, client_address",
    [
        ("203.0.113.7", "203.0.113.7"),
        ("1.1.1.1, 203.0.113.7", "203.0.113.7"),  # only the hop the trusted proxy saw counts
        ("203.0.113.7, 10.0.0.9", "203.0.113.7"),  # a chain of trusted proxies
        ("not-an-address", "127.0.0.1"),
    ],
)
async def test_a_trusted_proxy_names_the_client(
    app_factory: AppFactory, forwarded: str, client_address: str
) -> None:
    app, client = await app_factory(trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    await post(client, {**bearer("police_officer"), "X-Forwarded-For": forwarded})
    assert await audited_addresses(app) == [client_address]


def test_a_bad_trusted_proxy_setting_names_the_entry() -> None:
    from govgraph import Settings, create_app

    with pytest.raises(ValueError, match=r"GOVGRAPH_TRUSTED_PROXIES: '10\.0\.0\.300' is not an IP address"):
        create_app(Settings(trusted_proxies=["10.0.0.300"]))


def test_the_real_server_believes_no_forwarded_header(demo_dir: Path, tmp_path: Path) -> None:
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_RATE_LIMIT_ANONYMOUS": "2",
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{tmp_path}/audit.db",
    }
    with govgraph_server(environ, tmp_path) as server:
        statuses = [
            httpx.post(
                f"{server.url}/graphql",
                json={"query": "{ __typename }"},
                headers={"X-Forwarded-For": f"198.51.100.{index}"},
                timeout=10,
            ).status_code
            for index in range(4)
        ]
    assert statuses == [200, 200, 429, 429]
