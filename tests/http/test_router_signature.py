"""Behind a router with a signing key, a request reaching govgraph directly cannot claim a principal: only
requests carrying the router's RFC 9421 signature over what they ask, as whom, are answered."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from govgraph import Settings, create_app
from govgraph.demo.golden import ZHANG_WEI
from tests.auth_helpers import bearer

KEY = "router-and-govgraph-share-this"
QUERY = '{ person(idNumber: "%s") { name annualIncome } }' % ZHANG_WEI
TAX = bearer("tax_officer", "tax-audit")


class Key(HTTPSignatureKeyResolver):
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def resolve_private_key(self, key_id: str) -> bytes:
        return self.secret

    def resolve_public_key(self, key_id: str) -> bytes:
        return self.secret


def signed(
    request: httpx.Request,
    *,
    key: str = KEY,
    key_id: str = "router",
    components: tuple[str, ...] | None = None,
    created: datetime.datetime | None = None,
) -> httpx.Request:
    """Sign as a router would: method, path, query, body digest and the caller's headers."""
    if components is None:
        components = ("@method", "@path")
        components += ("@query",) if request.url.query else ()
        components += ("content-digest",) if request.content else ()
        components += tuple(
            name for name in ("authorization", "x-purpose", "cache-control") if name in request.headers
        )
    HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=Key(key)).sign(
        request,
        key_id=key_id,
        covered_component_ids=components,
        body=request.content or None,
        created=created or datetime.datetime.now(datetime.UTC),
    )
    return request


@pytest.fixture
async def client(demo_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db",
        audit_spool=tmp_path / "spool.jsonl",
        router_signature_key=KEY,
    )
    app = create_app(settings, environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://govgraph.internal"
        ) as http,
    ):
        yield http


def post(client: httpx.AsyncClient, headers: dict[str, str] = TAX, query: str = QUERY) -> httpx.Request:
    return client.build_request("POST", "/graphql", json={"query": query}, headers=headers)


async def test_a_request_signed_by_the_router_is_answered_for_its_principal(
    client: httpx.AsyncClient,
) -> None:
    response = await client.send(signed(post(client)))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["person"] == {"name": "张伟", "annualIncome": 186000}


async def test_a_get_is_signed_over_its_query_string(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "GET", "/graphql", params={"query": QUERY}, headers={**TAX, "graphql-require-preflight": "1"}
    )
    assert (await client.send(signed(request))).json()["data"]["person"]["annualIncome"] == 186000


def tampered(client: httpx.AsyncClient) -> dict[str, httpx.Request]:
    swapped = signed(post(client, bearer("window_clerk", "housing-subsidy")))
    swapped.headers["authorization"] = TAX["Authorization"]
    body_changed = signed(post(client, query="{ __typename }"))
    changed = post(client)
    changed.headers.update({name: body_changed.headers[name] for name in ("signature", "signature-input")})
    purpose_added = signed(post(client))
    purpose_added.headers["x-purpose"] = "oversight"
    return {
        "unsigned": post(client),
        "another token than was signed": swapped,
        "another body than was signed": changed,
        "a purpose added after signing": purpose_added,
        "signed with another key": signed(post(client), key="a-key-the-attacker-made-up"),
        "signed under an unknown key id": signed(post(client), key_id="someone"),
        "signed too long ago": signed(
            post(client), created=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
        ),
        "a signature that leaves the token out": signed(
            post(client), components=("@method", "@path", "content-digest")
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unsigned",
        "another token than was signed",
        "another body than was signed",
        "a purpose added after signing",
        "signed with another key",
        "signed under an unknown key id",
        "signed too long ago",
        "a signature that leaves the token out",
    ],
)
async def test_anything_but_the_router_s_signature_over_this_request_is_refused(
    client: httpx.AsyncClient, case: str
) -> None:
    response = await client.send(tampered(client)[case])
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "ROUTER_SIGNATURE_INVALID"
    assert "data" not in body or body["data"] is None
    assert "186000" not in response.text and TAX["Authorization"].split()[1] not in response.text
    assert KEY not in response.text


async def test_health_and_metrics_need_no_signature(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
