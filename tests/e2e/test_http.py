"""GraphQL over HTTP: content types, CSRF, methods, body size, status codes, persisted documents, CORS."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth_helpers import bearer
from tests.conftest import AppFactory

QUERY = '{ enterprise(creditCode: "91110101MA01BXQ80Y") { name } }'
PREFLIGHT = {"GraphQL-Require-Preflight": "1"}


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code
    assert len(body["extensions"]["requestId"]) == 32
    return body


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_simple_content_types_are_refused_as_csrf(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/graphql", content=json.dumps({"query": QUERY}), headers={"Content-Type": content_type}
    )
    assert_json_error(response, 400, "CSRF_PREVENTED")


async def test_unsupported_content_type_with_preflight_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content="<query/>", headers={"Content-Type": "application/xml", **PREFLIGHT}
    )
    assert_json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    response = await client.post(
        "/graphql", content=QUERY, headers={"Content-Type": "text/plain", **PREFLIGHT}
    )
    assert_json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_get_operations_need_a_preflight_header(client: httpx.AsyncClient) -> None:
    assert_json_error(await client.get("/graphql", params={"query": QUERY}), 400, "CSRF_PREVENTED")
    allowed = await client.get("/graphql", params={"query": QUERY}, headers=PREFLIGHT)
    assert (
        allowed.status_code == 200 and allowed.json()["data"]["enterprise"]["name"] == "北京示例科技有限公司"
    )


async def test_mutation_over_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { x }"}, headers=PREFLIGHT)
    assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    assert (await client.put("/graphql", json={"query": QUERY})).status_code == 405
    assert (await client.delete("/graphql")).status_code == 405


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = json.dumps({"query": QUERY, "variables": {"padding": "x" * 300_000}})
    assert_json_error(
        await client.post("/graphql", content=big, headers={"Content-Type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
    )


@pytest.mark.parametrize("body", ['"just a string"', "null", "5", "true"])
async def test_a_body_that_is_not_an_object_is_a_clear_400(client: httpx.AsyncClient, body: str) -> None:
    response = await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert "must be a JSON object" in assert_json_error(response, 400, "BAD_REQUEST")["errors"][0]["message"]


async def test_malformed_json_and_missing_query_are_json_errors(client: httpx.AsyncClient) -> None:
    bad = await client.post("/graphql", content="{not json", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_json_error(bad, 400, "BAD_REQUEST")["errors"][0]["message"]
    empty = await client.post("/graphql", json={"variables": {}})
    assert_json_error(empty, 400, "BAD_REQUEST")


async def test_graphql_response_json_uses_the_spec_status_codes(client: httpx.AsyncClient) -> None:
    accept = {"Accept": "application/graphql-response+json"}
    ok = await client.post("/graphql", json={"query": QUERY}, headers=accept)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("application/graphql-response+json")
    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=accept)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("application/graphql-response+json")
    legacy = await client.post("/graphql", json={"query": "{ nope }"})
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def test_automatic_persisted_queries(client: httpx.AsyncClient) -> None:
    document = '{ enterprise(creditCode: "91110105MA00GK2T0A") { name status } }' + f" # {uuid.uuid4().hex}"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}

    unknown = await client.post("/graphql", json={"extensions": extensions})
    assert_json_error(unknown, 200, "PERSISTED_QUERY_NOT_FOUND")
    registered = await client.post("/graphql", json={"query": document, "extensions": extensions})
    assert registered.json()["data"]["enterprise"]["status"] == "吊销"
    by_hash = await client.post("/graphql", json={"extensions": extensions})
    assert by_hash.json()["data"]["enterprise"]["name"] == "北京旧城贸易有限公司"
    by_get = await client.get("/graphql", params={"extensions": json.dumps(extensions)}, headers=PREFLIGHT)
    assert by_get.json()["data"]["enterprise"]["name"] == "北京旧城贸易有限公司"

    wrong = await client.post("/graphql", json={"query": QUERY, "extensions": extensions})
    assert "does not match" in assert_json_error(wrong, 400, "BAD_REQUEST")["errors"][0]["message"]


async def test_trusted_documents_only(app_factory: AppFactory, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha(QUERY), "name": "Example", "type": "query", "body": QUERY}],
            }
        )
    )
    _, client = await app_factory(trusted_documents=manifest, trusted_documents_only=True)

    by_hash = await client.post(
        "/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(QUERY)}}}
    )
    assert by_hash.json()["data"]["enterprise"]["name"] == "北京示例科技有限公司"
    assert (await client.post("/graphql", json={"query": QUERY})).status_code == 200
    other = await client.post("/graphql", json={"query": "{ __typename }"})
    assert_json_error(other, 400, "PERSISTED_QUERY_NOT_ALLOWED")


def test_a_tampered_manifest_is_refused(tmp_path: Path) -> None:
    from govgraph.http.persisted import load_manifest

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha(QUERY): QUERY + " "}))
    with pytest.raises(ValueError, match="does not match"):
        load_manifest(manifest)


async def test_introspection_off_keeps_the_federation_sdl(app_factory: AppFactory) -> None:
    _, client = await app_factory(introspection=False)
    refused = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert refused.json()["data"] is None
    sdl = await client.post("/graphql", json={"query": "{ _service { sdl } }"})
    assert "type Person" in sdl.json()["data"]["_service"]["sdl"]


async def test_graphiql_is_off_by_default_in_production(app_factory: AppFactory, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _, client = await app_factory(
        environment="production", jwt_public_key_file=pem, jwt_issuer="i", jwt_audience="a"
    )
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404
    introspection = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert introspection.json()["data"] is None


async def test_cors_allows_only_configured_origins(app_factory: AppFactory) -> None:
    _, client = await app_factory(cors_allow_origins=("https://portal.city.example",))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = await client.options("/graphql", headers={"Origin": "https://portal.city.example", **preflight})
    assert allowed.headers["access-control-allow-origin"] == "https://portal.city.example"
    refused = await client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Origin": "https://portal.city.example"}
    )
    assert "access-control-allow-origin" not in response.headers


class Exploding:
    department = "taxation"
    max_keys_per_query = 1000

    async def fetch(self, *_: Any) -> Any:
        raise RuntimeError("connection string postgresql://admin:hunter2@db/tax broke")

    lookup = scan = fetch


async def test_unexpected_errors_are_internal_with_the_request_id_and_logged(
    app_factory: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _, client = await app_factory()
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.sources = {**app.state.sources, "taxation": Exploding()}
    with caplog.at_level(logging.ERROR, logger="govgraph"):
        response = await client.post(
            "/graphql",
            json={"query": '{ person(idNumber: "110101199003071233") { name annualIncome } }'},
            headers=bearer("tax_officer", "tax-audit"),
        )
    body = response.json()
    request_id = body["extensions"]["requestId"]
    internal = [error for error in body["errors"] if error["extensions"]["code"] == "INTERNAL"]
    assert internal and request_id in internal[0]["message"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)


async def test_every_response_names_its_request_id_in_a_header(client: httpx.AsyncClient) -> None:
    ok = await client.post("/graphql", json={"query": QUERY})
    assert ok.headers["x-request-id"] == ok.json()["extensions"]["requestId"]
    refused = await client.post("/graphql", content="x", headers={"Content-Type": "text/plain"})
    assert refused.headers["x-request-id"] == refused.json()["extensions"]["requestId"]
    unauthenticated = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer nope"}
    )
    assert unauthenticated.headers["x-request-id"] == unauthenticated.json()["extensions"]["requestId"]
