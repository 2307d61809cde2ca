"""JWT attacks: every bad token is HTTP 401 UNAUTHENTICATED with a reason, and never echoed."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import threading
from collections.abc import Iterator

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from govgraph import Settings, create_app
from govgraph.auth.tokens import DEMO_SECRET

ZHANG_WEI = "110101199003071233"
QUERY = {"query": '{ person(idNumber: "%s") { name } }' % ZHANG_WEI}


def claims(**overrides: object) -> dict[str, object]:
    now = datetime.datetime.now(datetime.UTC)
    base: dict[str, object] = {
        "sub": "officer-1",
        "dept": "taxation",
        "roles": ["tax_officer"],
        "purpose": "tax-audit",
        "exp": now + datetime.timedelta(minutes=5),
        "iat": now,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def unsigned(payload: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()

    payload = {
        key: int(value.timestamp()) if isinstance(value, datetime.datetime) else value
        for key, value in payload.items()
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


async def post(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"})


def assert_unauthenticated(response: httpx.Response, reason: str, token: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert reason in body["errors"][0]["message"]
    assert token not in response.text
    assert "requestId" in body["extensions"]


DEVELOPMENT_CASES = {
    "alg none": (lambda: unsigned(claims()), "algorithm none"),
    "wrong secret": (
        lambda: jwt.encode(claims(), "not-the-secret-but-long-enough-for-hs256!", algorithm="HS256"),
        "signature",
    ),
    "expired": (
        lambda: jwt.encode(
            claims(exp=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)), DEMO_SECRET
        ),
        "expired",
    ),
    "not yet valid": (
        lambda: jwt.encode(
            claims(nbf=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)), DEMO_SECRET
        ),
        "not yet valid",
    ),
    "no expiry": (lambda: jwt.encode(claims(exp=None), DEMO_SECRET), "claim exp is required"),
    "garbage": (lambda: "this-is-not-a-jwt", "malformed"),
    "garbage with dots": (lambda: "a.b.c", "malformed"),
    "roles not a list": (lambda: jwt.encode(claims(roles={"a": 1}), DEMO_SECRET), "roles"),
}


@pytest.mark.parametrize("case", list(DEVELOPMENT_CASES))
async def test_bad_tokens_are_rejected(client: httpx.AsyncClient, case: str) -> None:
    make, reason = DEVELOPMENT_CASES[case]
    token = make()
    assert_unauthenticated(await post(client, token), reason, token)


async def test_non_bearer_scheme_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=QUERY, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "dXNlcjpwYXNz" not in response.text


async def test_a_malformed_purpose_header_is_a_bad_request(client: httpx.AsyncClient) -> None:
    token = jwt.encode(claims(), DEMO_SECRET)
    response = await client.post(
        "/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}", "X-Purpose": "x' OR 1=1"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "OR 1=1" not in response.text


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
async def production_client(
    tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey, environ: dict[str, str]
):  # type: ignore[no-untyped-def]
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path_factory.mktemp("keys") / "public.pem"
    key_file.write_bytes(public_pem)
    settings = Settings(
        environment="production",
        jwt_public_key_file=key_file,
        jwt_issuer="https://idp.city.example",
        jwt_audience="govgraph",
    )
    app = create_app(settings, environ=environ)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test") as client,
    ):
        yield client, public_pem


def production_claims(**overrides: object) -> dict[str, object]:
    return claims(**{"iss": "https://idp.city.example", "aud": "govgraph", **overrides})


async def test_production_accepts_a_good_rs256_token(production_client, rsa_key) -> None:  # type: ignore[no-untyped-def]
    client, _ = production_client
    token = jwt.encode(production_claims(), rsa_key, algorithm="RS256")
    response = await post(client, token)
    assert response.status_code == 200
    assert response.json()["data"]["person"]["name"] == "张伟"


async def test_production_rejects_hs256_signed_with_the_public_key(production_client) -> None:  # type: ignore[no-untyped-def]
    client, public_pem = production_client
    token = _hs256_with_raw_key(production_claims(), public_pem)
    assert_unauthenticated(await post(client, token), "algorithm HS256", token)


def _hs256_with_raw_key(payload: dict[str, object], key: bytes) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = {k: int(v.timestamp()) if isinstance(v, datetime.datetime) else v for k, v in payload.items()}
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


PRODUCTION_CASES = {
    "wrong audience": (dict(aud="someone-else"), "wrong audience"),
    "wrong issuer": (dict(iss="https://evil.example"), "wrong issuer"),
    "expired": (dict(exp=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)), "expired"),
}


@pytest.mark.parametrize("case", list(PRODUCTION_CASES))
async def test_production_checks_issuer_audience_and_expiry(production_client, rsa_key, case: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = production_client
    overrides, reason = PRODUCTION_CASES[case]
    token = jwt.encode(production_claims(**overrides), rsa_key, algorithm="RS256")
    assert_unauthenticated(await post(client, token), reason, token)


async def test_production_rejects_a_token_from_another_key(production_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = production_client
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(production_claims(), other, algorithm="ES256")
    assert_unauthenticated(await post(client, token), "", token)


async def test_production_rejects_alg_none(production_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = production_client
    token = unsigned(production_claims())
    assert_unauthenticated(await post(client, token), "algorithm none", token)


def test_production_settings_refuse_weak_configurations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="PUBLIC_KEY_FILE or GOVGRAPH_JWT_JWKS_URL"):
        Settings(environment="production", jwt_issuer="i", jwt_audience="a")
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(
            environment="production",
            jwt_issuer="i",
            jwt_audience="a",
            jwt_jwks_url="https://idp.example/jwks",
            jwt_algorithms=("HS256",),
        )
    with pytest.raises(ValueError, match="GOVGRAPH_AUTHORIZATION cannot be false in production"):
        Settings(
            environment="production",
            jwt_issuer="i",
            jwt_audience="a",
            jwt_jwks_url="https://idp.example/jwks",
            authorization=False,
        )


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A JWKS endpoint on 127.0.0.1, as an identity provider would publish it."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "city-idp-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


async def test_production_verifies_rs256_with_keys_from_a_jwks_url(
    jwks_server: str, rsa_key: rsa.RSAPrivateKey, environ: dict[str, str]
) -> None:
    settings = Settings(
        environment="production",
        jwt_jwks_url=jwks_server,
        jwt_issuer="https://idp.city.example",
        jwt_audience="govgraph",
    )
    app = create_app(settings, environ=environ)
    good = jwt.encode(production_claims(), rsa_key, algorithm="RS256", headers={"kid": "city-idp-1"})
    unknown_key = jwt.encode(
        production_claims(), rsa_key, algorithm="RS256", headers={"kid": "someone-elses"}
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://govgraph.test") as client,
    ):
        accepted = await post(client, good)
        rejected = await post(client, unknown_key)

    assert accepted.status_code == 200
    assert accepted.json()["data"]["person"]["name"] == "张伟"
    assert_unauthenticated(rejected, "no key verifies this token", unknown_key)


def test_jwks_url_must_be_https_or_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        Settings(
            environment="production", jwt_issuer="i", jwt_audience="a", jwt_jwks_url="http://idp.example/jwks"
        )
