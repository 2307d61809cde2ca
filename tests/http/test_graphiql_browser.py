"""In a real browser with the network cut off, GraphiQL renders from govgraph alone and runs a clerk's
housing-subsidy query, showing the registered address masked to the district."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from govgraph.demo.golden import ZHANG_WEI
from tests.auth_helpers import token
from tests.browser import chromium, offline, screenshot
from tests.servers import Server, govgraph_server

QUERY = '{ person(idNumber: "%s") { name registeredAddress maritalStatus } }' % ZHANG_WEI
RENDERS = 60_000
"""Milliseconds Playwright waits for a step, at most: a bound, not a measure."""


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("graphiql-browser")
    environ = {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{directory}/audit.db",
        "GOVGRAPH_AUDIT_SPOOL": str(directory / "spool.jsonl"),
    }
    with govgraph_server(environ, directory) as running:
        yield running


def test_graphiql_renders_offline_and_runs_the_clerk_s_query(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    headers = json.dumps({"Authorization": f"Bearer {token('window_clerk', 'housing-subsidy')}"})
    url = f"{server.url}/graphql?q={quote(QUERY)}&headers={quote(headers)}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            refused = offline(page, server.url)
            page.goto(url, timeout=RENDERS)
            page.wait_for_selector(".graphiql-execute-button", timeout=RENDERS)
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "() => document.querySelector('.result-window')?.innerText.includes('registeredAddress')",
                timeout=RENDERS,
            )
            result = page.inner_text(".result-window")
            screenshot(page, "graphiql-clerk")
        finally:
            browser.close()
    assert refused == [], "the page asked for nothing outside govgraph"
    assert "北京市东城区" in result and "景山前街" not in result, "the address is masked to the district"
    assert "张伟" in result
