"""The persisted-query store grows only with documents that passed every check, and is bounded in bytes."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from tests.auth_helpers import bearer
from tests.conftest import AppFactory
from tests.security.corpus import EXAMPLE_TECH

TAX = bearer("tax_officer", "tax-audit")


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def apq(document: str) -> dict[str, Any]:
    return {"query": document, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}}


def unique(document: str) -> str:
    return f"{document} # {uuid.uuid4().hex}"


async def test_refused_requests_never_grow_the_store(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_anonymous=2, max_depth=3)
    store = app.state.persisted
    enterprise = f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ name }} }}'
    refusals = [
        # 401: a token that does not verify
        (apq(unique(enterprise)), {"Authorization": "Bearer not-a-token"}, 401),
        # over the document size limit (checked before parsing)
        (apq(unique(enterprise) + " " * 20_001), TAX, 200),
        # over the depth limit (checked before the first field runs)
        (
            apq(
                unique(
                    f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ legalRepresentative {{ spouse {{ spouse {{ name }} }} }} }} }}'
                )
            ),
            TAX,
            200,
        ),
        # not valid
        (apq(unique("{ enterprise { nope } }")), TAX, 200),
    ]
    for body, headers, status in refusals:
        response = await client.post("/graphql", json=body, headers=headers)
        assert response.status_code == status, response.text
        assert "data" not in response.json() or response.json()["data"] is None
    # 429: two anonymous requests pass, the rest are refused by the rate limit
    statuses = [(await client.post("/graphql", json=apq(unique(enterprise)))).status_code for _ in range(30)]
    assert statuses.count(429) == 28
    assert (len(store), store.stored_bytes) == (2, 2 * len(apq(unique(enterprise))["query"].encode()))


async def test_hundreds_of_refused_large_documents_add_nothing(app_factory: AppFactory) -> None:
    app, client = await app_factory()
    store = app.state.persisted
    padding = "{ __typename } # " + "x" * 19_000
    for _ in range(300):
        response = await client.post(
            "/graphql", json=apq(unique(padding)), headers={"Authorization": "Bearer x"}
        )
        assert response.status_code == 401
    assert (len(store), store.stored_bytes) == (0, 0)


async def test_an_accepted_document_is_stored_and_then_runs_by_its_hash(app_factory: AppFactory) -> None:
    app, client = await app_factory()
    document = unique(f'{{ enterprise(creditCode: "{EXAMPLE_TECH}") {{ name }} }}')
    registered = await client.post("/graphql", json=apq(document))
    assert registered.json()["data"]["enterprise"]["name"] == "北京示例科技有限公司"
    by_hash = await client.post("/graphql", json={"extensions": apq(document)["extensions"]})
    assert by_hash.json()["data"]["enterprise"]["name"] == "北京示例科技有限公司"
    assert len(app.state.persisted) == 1


async def test_the_store_is_bounded_in_bytes(app_factory: AppFactory) -> None:
    app, client = await app_factory(persisted_queries_max_bytes=10_000)
    store = app.state.persisted
    documents = [unique("{ __typename } # " + "y" * 3_000) for _ in range(20)]
    for document in documents:
        assert (await client.post("/graphql", json=apq(document))).json()["data"] == {"__typename": "Query"}
    assert store.stored_bytes <= 10_000
    assert len(store) == 3
    newest = await client.post("/graphql", json={"extensions": apq(documents[-1])["extensions"]})
    assert newest.json()["data"] == {"__typename": "Query"}
    oldest = await client.post("/graphql", json={"extensions": apq(documents[0])["extensions"]})
    assert oldest.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_refused_on_get_too(app_factory: AppFactory) -> None:
    import json

    app, client = await app_factory()
    document = unique("{ __typename }")
    body = apq(document)
    response = await client.get(
        "/graphql",
        params={"query": document, "extensions": json.dumps(body["extensions"])},
        headers={"GraphQL-Require-Preflight": "1", "Authorization": "Bearer forged"},
    )
    assert response.status_code == 401
    assert len(app.state.persisted) == 0
    accepted = await client.get(
        "/graphql",
        params={"query": document, "extensions": json.dumps(body["extensions"])},
        headers={"GraphQL-Require-Preflight": "1"},
    )
    assert accepted.json()["data"] == {"__typename": "Query"}
    assert len(app.state.persisted) == 1
