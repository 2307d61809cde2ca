"""``/catalog`` over HTTP: metadata only, filtered to the viewer's token, escaped, offline, never cached.

Anonymous: 401 and the token form, nothing of the catalog. A role: the
departments, entities and fields, and its own access rows only, as the
authorizer decides them for /graphql. The auditor (purpose oversight): every
role's rows.
"""

from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from govgraph.demo.golden import ZHANG_WEI
from govgraph.settings import DEMO_CATALOG
from tests.auth_helpers import bearer, token
from tests.conftest import AppFactory, graphql

ROLES = (
    "window_clerk",
    "tax_officer",
    "civil_affairs_officer",
    "pension_officer",
    "police_officer",
    "auditor",
    "citizen",
)
EXTERNAL = re.compile(r"https?://")


def role_sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section class="access" data-role="([^"]+)">(.*?)</section>', page, re.S))


def purposes_of(section: str) -> list[str]:
    header = re.search(r"<tr><th>Field</th>(.*?)</tr>", section, re.S)
    assert header is not None
    return re.findall(r"<th>([^<]+)</th>", header.group(1))


def access(section: str, coordinate: str) -> dict[str, str]:
    """purpose -> read/mask/verify/deny for one coordinate of a role's table."""
    row = re.search(rf'<tr data-coordinate="{re.escape(coordinate)}">(.*?)</tr>', section, re.S)
    assert row is not None, coordinate
    cells = re.findall(r'<td class="a-(\w+)"', row.group(1))
    return dict(zip(purposes_of(section), cells, strict=True))


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert (
        "default-src 'self'" in policy
        and "script-src 'none'" in policy
        and "frame-ancestors 'none'" in policy
    )


def assert_no_catalog(text: str) -> None:
    for leaked in (
        "data-entity",
        "data-role",
        "data-coordinate",
        "Person.annualIncome",
        "自然人",
        "taxation",
    ):
        assert leaked not in text, leaked


async def test_anonymous_gets_401_with_the_token_form_and_nothing_of_the_catalog(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/catalog")
    assert response.status_code == 401
    assert_page_headers(response)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert '<form method="post" action="/catalog">' in response.text
    assert 'name="token" type="password"' in response.text
    assert "govgraph token --role ROLE --purpose PURPOSE" in response.text, "development says how to get one"
    assert_no_catalog(response.text)
    assert "<script" not in response.text


async def test_a_bad_bearer_header_is_refused_before_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/catalog", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert_no_catalog(response.text)


async def test_a_clerk_sees_the_catalog_and_only_the_clerk_s_access(client: httpx.AsyncClient) -> None:
    response = await client.get("/catalog", headers=bearer("window_clerk", "housing-subsidy"))
    assert response.status_code == 200
    assert_page_headers(response)
    page = response.text
    for entity in ("Person", "Household", "Enterprise", "Property"):
        assert f'<table class="entity" data-entity="{entity}">' in page, entity
    income = re.search(
        r'<tr data-coordinate="Person.annualIncome"><td><code>annualIncome</code>.*?</tr>', page
    )
    assert income is not None
    assert (
        "sensitive" in income.group(0) and "taxation" in income.group(0) and "amount_band" in income.group(0)
    )
    assert "自然人，以公民身份号码为唯一标识" in page and "A natural person, keyed by" in page, (
        "both languages"
    )
    assert "税务局" in page and "Taxation Bureau" in page, "the departments, with their names"
    assert "disabilityGrade" not in page, "not_shared fields are never in the catalog"

    sections = role_sections(page)
    assert list(sections) == ["window_clerk"], "only the clerk's own rows"
    clerk = sections["window_clerk"]
    assert purposes_of(clerk) == ["business-startup", "housing-subsidy", "none stated"]
    assert access(clerk, "Person.annualIncome") == {
        "business-startup": "deny",
        "housing-subsidy": "verify",
        "none stated": "deny",
    }
    assert access(clerk, "Person.registeredAddress")["housing-subsidy"] == "mask"
    assert access(clerk, "Person.maritalStatus")["business-startup"] == "read"
    assert access(clerk, "Enterprise.insuredEmployees") == {
        "business-startup": "read",
        "housing-subsidy": "deny",
        "none stated": "deny",
    }
    assert access(clerk, "Person.subsistenceAllowance")["housing-subsidy"] == "deny"
    assert access(clerk, "Query.usage")["housing-subsidy"] == "deny"
    for other in ("tax_officer", "auditor", "tax-audit", "oversight", "subsistence-review"):
        assert other not in page, f"{other}: another role's access, or its purpose"


async def test_the_page_says_what_graphql_then_does(client: httpx.AsyncClient) -> None:
    """The verify cell is the authorizer's answer: the same clerk asking for the value is refused so."""
    result = await graphql(
        client,
        '{ person(idNumber: "%s") { annualIncome } }' % ZHANG_WEI,
        headers=bearer("window_clerk", "housing-subsidy"),
    )
    assert result["data"]["person"]["annualIncome"] is None
    assert "verify only" in result["errors"][0]["message"]


async def test_a_tax_officer_sees_no_clerk_rows(client: httpx.AsyncClient) -> None:
    page = (await client.get("/catalog", headers=bearer("tax_officer", "tax-audit"))).text
    sections = role_sections(page)
    assert list(sections) == ["tax_officer"]
    assert access(sections["tax_officer"], "Person.annualIncome")["tax-audit"] == "read"
    assert "window_clerk" not in page and "housing-subsidy" not in page


async def test_the_auditor_oversees_every_role_and_purpose(client: httpx.AsyncClient) -> None:
    page = (await client.get("/catalog", headers=bearer("auditor", "oversight"))).text
    sections = role_sections(page)
    assert sorted(sections) == sorted(ROLES)
    assert access(sections["window_clerk"], "Person.annualIncome")["housing-subsidy"] == "verify"
    assert access(sections["tax_officer"], "Person.annualIncome")["tax-audit"] == "read"
    assert access(sections["auditor"], "Query.auditLog") == {"oversight": "read", "none stated": "deny"}
    assert access(sections["citizen"], "Query.myAccessLog") == {"none stated": "read"}
    assert access(sections["citizen"], "Person.annualIncome") == {"none stated": "deny"}
    for purpose in ("housing-subsidy", "business-startup", "tax-audit", "oversight", "household-admin"):
        assert f"<code>{purpose}</code>" in page, purpose
    assert 'href="/usage"' in page, "the auditor is offered the usage dashboard"


async def test_an_auditor_token_without_the_oversight_purpose_sees_its_own_rows_only(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/catalog", headers=bearer("auditor"))).text
    assert list(role_sections(page)) == ["auditor"]
    assert "window_clerk" not in page and 'href="/usage"' not in page


async def test_a_role_not_held_in_the_token_s_department_shows_no_access(client: httpx.AsyncClient) -> None:
    page = (
        await client.get(
            "/catalog", headers=bearer("tax_officer", "tax-audit", department="government_service_center")
        )
    ).text
    assert role_sections(page) == {}
    assert "no access is shown" in page
    assert 'data-entity="Person"' in page, "the catalog's metadata itself is for any signed-in principal"


async def test_a_token_posted_in_the_form_opens_the_page(client: httpx.AsyncClient) -> None:
    response = await client.post("/catalog", data={"token": token("window_clerk", "housing-subsidy")})
    assert response.status_code == 200
    assert_page_headers(response)
    assert list(role_sections(response.text)) == ["window_clerk"]
    assert token("window_clerk", "housing-subsidy")[:40] not in response.text, "the token is not echoed"

    unbound = await client.post("/catalog", data={"token": token("auditor"), "purpose": "oversight"})
    assert sorted(role_sections(unbound.text)) == sorted(ROLES), "the form's purpose, like X-Purpose"


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"token": "not-a-token"}, 401, "authentication failed"),
        ({"token": ""}, 401, "The form carried no token."),
        ({"token": token("window_clerk", "housing-subsidy"), "purpose": "tax-audit"}, 400, "contradicts"),
        ({"token": token("auditor"), "purpose": "no-such-purpose"}, 400, "unknown purpose"),
        ({"token": token("window_clerk", department="nowhere")}, 401, "no department known"),
    ],
)
async def test_a_bad_posted_token_gets_the_form_again_and_no_catalog(
    client: httpx.AsyncClient, form: dict[str, str], status: int, says: str
) -> None:
    response = await client.post("/catalog", data=form)
    assert response.status_code == status
    assert_page_headers(response)
    assert says in response.text
    assert '<form method="post" action="/catalog">' in response.text
    assert_no_catalog(response.text)


async def test_the_form_is_bounded_and_url_encoded(client: httpx.AsyncClient) -> None:
    as_json = await client.post("/catalog", json={"token": token("window_clerk", "housing-subsidy")})
    assert as_json.status_code == 415
    huge = await client.post("/catalog", data={"token": "x" * 20_000})
    assert huge.status_code == 413
    for response in (as_json, huge):
        assert_no_catalog(response.text)


async def test_neither_page_names_an_external_address(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/catalog"),
        await client.get("/catalog", headers=bearer("auditor", "oversight")),
        await client.get("/catalog", headers=bearer("citizen", subject=ZHANG_WEI)),
    ):
        assert not EXTERNAL.findall(response.text), response.status_code
        assert "<script" not in response.text and "<link" not in response.text


async def test_a_citizen_sees_metadata_but_not_its_own_id_number(client: httpx.AsyncClient) -> None:
    page = (await client.get("/catalog", headers=bearer("citizen", subject=ZHANG_WEI))).text
    assert list(role_sections(page)) == ["citizen"]
    assert ZHANG_WEI not in page, "the subject is never shown"


async def test_graphiql_links_to_the_catalog(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    assert 'href="/catalog"' in page and ">Catalog</a>" in page


async def test_everything_from_the_catalog_is_escaped(app_factory: AppFactory, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    entities = catalog / "entities.yaml"
    text = entities.read_text(encoding="utf-8")
    original = "en: A natural person, keyed by the 18-character resident ID number"
    assert original in text
    entities.write_text(
        text.replace(original, """en: '<script>alert("x")</script> & <b onclick="y">person</b>'"""),
        encoding="utf-8",
    )
    _, own = await app_factory(catalog=catalog)
    page = (await own.get("/catalog", headers=bearer("window_clerk", "housing-subsidy"))).text
    assert "<script>" not in page and '<b onclick="y">' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b onclick=&quot;y&quot;&gt;" in page


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_production_keeps_the_pages_behind_the_identity_provider_s_tokens(
    app_factory: AppFactory, tmp_path: Path, idp_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(
        idp_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _, production = await app_factory(
        environment="production",
        jwt_public_key_file=key_file,
        jwt_issuer="https://idp.city.example",
        jwt_audience="govgraph",
    )
    now = datetime.datetime.now(datetime.UTC)
    claims = {
        "sub": "auditor-7",
        "dept": "audit_office",
        "roles": ["auditor"],
        "iss": "https://idp.city.example",
        "aud": "govgraph",
        "iat": now,
        "exp": now + datetime.timedelta(minutes=5),
    }
    idp_token = jwt.encode(claims, idp_key, algorithm="RS256")

    anonymous = await production.get("/catalog")
    assert anonymous.status_code == 401
    assert "identity provider" in anonymous.text and "govgraph token" not in anonymous.text
    assert 'href="/graphql"' not in anonymous.text, "GraphiQL is off in production: not offered"
    demo = await production.post("/catalog", data={"token": token("auditor", "oversight")})
    assert demo.status_code == 401, "the demo secret verifies nothing in production"
    assert_no_catalog(demo.text)

    # An identity provider's token names no purpose: the form's purpose field states it, as X-Purpose does.
    signed_in = await production.post("/catalog", data={"token": idp_token, "purpose": "oversight"})
    assert signed_in.status_code == 200
    assert sorted(role_sections(signed_in.text)) == sorted(ROLES)
    as_header = await production.get(
        "/catalog", headers={"Authorization": f"Bearer {idp_token}", "X-Purpose": "oversight"}
    )
    assert as_header.status_code == 200 and sorted(role_sections(as_header.text)) == sorted(ROLES)
