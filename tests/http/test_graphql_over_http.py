"""The GraphQL-over-HTTP audit suite (npm graphql-http, serverAudits) against a real ``govgraph serve``:
no MUST and no SHOULD fails; a MAY fails only for CSRF prevention on GET, and passes with a preflight header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.node_tools import run_node
from tests.servers import Server, demo_environ, govgraph_server

CSRF_ONLY = {
    "5A70": "MAY accept application/x-www-form-urlencoded formatted GET requests",
    "D6D5": "MAY allow URL-encoded JSON string {variables} parameter in GETs (graphql-response+json)",
    "6A70": "MAY allow URL-encoded JSON string {variables} parameter in GETs (json)",
}
"""GETs without a preflight header, refused as possible cross-site request forgery (docs/security.md)."""


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("graphql-http")
    environ = demo_environ(demo_dir, directory, GOVGRAPH_RATE_LIMIT_ANONYMOUS="1000000")
    with govgraph_server(environ, directory) as running:
        yield running


def test_no_must_or_should_fails_and_a_may_only_for_csrf_prevention(server: Server) -> None:
    results = run_node("audit.mjs", f"{server.url}/graphql")
    assert len(results) > 50
    failed = {result["id"]: result for result in results if result["status"] != "ok"}
    assert not [result for result in failed.values() if result["status"] in ("error", "warn")], failed
    assert set(failed) <= set(CSRF_ONLY), failed
    refused = httpx.get(f"{server.url}/graphql", params={"query": "{ __typename }"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"


def test_with_a_preflight_header_every_audit_passes(server: Server) -> None:
    results = run_node("audit.mjs", f"{server.url}/graphql", "--preflight")
    assert [result for result in results if result["status"] != "ok"] == []
