"""GraphiQL works on an intranet with no internet: its page names no external address, and every asset it
names is served by govgraph from the package, byte for byte the file its integrity hash promises."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from govgraph import Settings, create_app
from govgraph.http.ide import ASSETS, STATIC

HTML = {"Accept": "text/html"}


@pytest.fixture
async def page(client: httpx.AsyncClient) -> str:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_the_page_names_no_external_address(page: str) -> None:
    assert not re.findall(r"""(?:src|href)=["']https?://""", page), "nothing is fetched from a CDN"
    # Only addresses are searched: the page's demo tokens are random base64, which may spell "cdn".
    addresses = re.findall(r"""(?:src|href)=["']([^"']*)|((?:https?:)?//[\w.-]+)""", page)
    assert not [a for a in addresses if "unpkg.com" in "".join(a) or "cdn" in "".join(a).lower()]


async def test_every_asset_the_page_names_is_served_and_matches_its_integrity_hash(
    client: httpx.AsyncClient, page: str
) -> None:
    named = re.findall(r"""(?:src|href)="(/graphql/static/[^"]+)"\s+integrity="(sha384-[^"]+)\"""", page)
    assert len(named) == len(ASSETS) == 7
    for path, integrity in named:
        response = await client.get(path)
        assert response.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert integrity == f"sha384-{digest}", path
        expected = "text/css" if path.endswith(".css") else "javascript"
        assert expected in response.headers["content-type"], path


def test_the_assets_are_package_files_with_their_licences() -> None:
    for name in ASSETS.values():
        assert (STATIC / name).stat().st_size > 0, name
    notices = (STATIC / "THIRD_PARTY.md").read_text(encoding="utf-8")
    assert all(name in notices for name in ASSETS.values())
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"govgraph.http" = ["static/graphiql/*"]' in pyproject, "installed by pip install"


async def test_without_graphiql_neither_page_nor_assets_are_served(demo_dir: Path, tmp_path: Path) -> None:
    app = create_app(
        Settings(
            audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db",
            audit_spool=tmp_path / "s.jsonl",
            graphiql=False,
        ),
        environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)},
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c,
    ):
        assert (await c.get("/graphql/static/graphiql.min.js")).status_code == 404
        assert "graphiql" not in (await c.get("/graphql", headers=HTML)).text.lower()


async def test_demo_tokens_are_offered_only_where_the_demo_secret_is_what_verifies(
    demo_dir: Path, tmp_path: Path, page: str
) -> None:
    assert 'id="govgraph-role"' in page and "Bearer " in page, "development with the demo secret: the picker"
    app = create_app(
        Settings(
            audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db",
            audit_spool=tmp_path / "s.jsonl",
            jwt_secret="a-secret-of-this-deployment",
            graphiql=True,
        ),
        environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)},
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c,
    ):
        own_secret = (await c.get("/graphql", headers=HTML)).text
    assert "graphiql" in own_secret.lower()
    assert "govgraph-role" not in own_secret and "Bearer " not in own_secret and "eyJ" not in own_secret
