"""What the schema discloses in production: the SDL only to callers with a token or the router credential,
and no "Did you mean" anywhere; in development suggestions stay, because they help."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from govgraph import Settings, create_app

ROUTER_SECRET = "router-" + uuid.uuid4().hex
ISSUER, AUDIENCE = "https://idp.city.example", "govgraph"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
async def production(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey, environ: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    directory = tmp_path_factory.mktemp("production")
    key_file = directory / "public.pem"
    key_file.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = Settings(
        environment="production",
        jwt_public_key_file=key_file,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        router_credential=ROUTER_SECRET,
        audit_url=f"sqlite+aiosqlite:///{directory}/audit.db",
        audit_spool=Path(directory) / "spool.jsonl",
    )
    app = create_app(settings, environ=environ)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test") as client,
    ):
        yield client


def token(rsa_key: rsa.RSAPrivateKey) -> str:
    now = datetime.datetime.now(datetime.UTC)
    claims = {
        "sub": "officer-1",
        "dept": "taxation",
        "roles": ["tax_officer"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + datetime.timedelta(minutes=5),
    }
    return jwt.encode(claims, rsa_key, algorithm="RS256")


SDL = "{ _service { sdl } }"


async def test_the_sdl_is_refused_to_anonymous_callers_in_production(production: httpx.AsyncClient) -> None:
    response = await production.post("/graphql", json={"query": SDL})
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "type Person" not in response.text and "annualIncome" not in response.text


async def test_a_token_or_the_router_credential_reads_the_sdl(
    production: httpx.AsyncClient, rsa_key: Any
) -> None:
    for headers in ({"Authorization": f"Bearer {token(rsa_key)}"}, {"X-Router-Credential": ROUTER_SECRET}):
        body = (await production.post("/graphql", json={"query": SDL}, headers=headers)).json()
        assert "type Person" in body["data"]["_service"]["sdl"]


async def test_a_wrong_router_credential_is_refused(production: httpx.AsyncClient) -> None:
    response = await production.post(
        "/graphql", json={"query": SDL}, headers={"X-Router-Credential": "guess"}
    )
    assert response.status_code == 401
    assert "guess" not in response.text and ROUTER_SECRET not in response.text


# Each misspelling graphql-core would otherwise answer with a suggestion.
MISSPELT = {
    "field": ('{ enterprise(creditCode: "91110101MA01BXQ80Y") { nam } }', {}),
    "argument": ('{ enterprise(creditCod: "91110101MA01BXQ80Y") { name } }', {}),
    "type": ("query($x: IdNumbe) { person(idNumber: $x) { name } }", {}),
    "enum value": ("{ usage(groupBy: [PROVIDR]) { records } }", {}),
    "input field": ('{ auditLog(filter: {subjec: "x"}) { entries { position } } }', {}),
    "enum value in variables": (
        "query($g: [UsageDimension!]) { usage(groupBy: $g) { records } }",
        {"g": ["PROVIDR"]},
    ),
    "input field in variables": (
        "query($f: AuditLogFilter) { auditLog(filter: $f) { entries { position } } }",
        {"f": {"subjec": "x"}},
    ),
}


@pytest.mark.parametrize("case", list(MISSPELT))
async def test_no_suggestions_in_production(production: httpx.AsyncClient, rsa_key: Any, case: str) -> None:
    query, variables = MISSPELT[case]
    for headers in ({}, {"Authorization": f"Bearer {token(rsa_key)}"}):
        response = await production.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.json()["errors"], response.text
        assert "Did you mean" not in response.text, response.text


@pytest.mark.parametrize(
    "case", ["field", "argument", "enum value", "input field", "enum value in variables"]
)
async def test_suggestions_help_in_development(client: httpx.AsyncClient, case: str) -> None:
    query, variables = MISSPELT[case]
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert "Did you mean" in response.text, response.text
