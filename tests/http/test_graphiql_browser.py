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
from tests.servers import Server, demo_environ, govgraph_server

QUERY = '{ person(idNumber: "%s") { name registeredAddress maritalStatus } }' % ZHANG_WEI
TALL = {"width": 1280, "height": 2400}
RENDERS = 60_000
"""Milliseconds Playwright waits for a step, at most: a bound, not a measure."""


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("graphiql-browser")
    with govgraph_server(demo_environ(demo_dir, directory), directory) as running:
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


def run_and_read(page: object, previous: str = "") -> str:
    """Run the active tab and wait for an answer other than ``previous`` (each has its own request id)."""
    page.click(".graphiql-execute-button")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        """previous => {
            const text = document.querySelector('.result-window')?.innerText || '';
            return text.includes('"data"') && text !== previous;
        }""",
        arg=previous,
        timeout=RENDERS,
    )
    return str(page.inner_text(".result-window"))  # type: ignore[attr-defined]


def test_graphiql_opens_with_examples_and_the_role_picker_switches_the_token(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=TALL)  # the answer's editor draws only the lines in view
            refused = offline(page, server.url)
            page.goto(f"{server.url}/graphql", timeout=RENDERS)
            page.wait_for_selector(".graphiql-execute-button", timeout=RENDERS)
            tabs = page.inner_text(".graphiql-tabs")
            options = page.eval_on_selector_all(
                "#govgraph-role option", "nodes => nodes.map(n => n.textContent)"
            )
            page.click(".graphiql-tab >> text=HousingSubsidy")
            as_clerk = run_and_read(page)
            page.select_option("#govgraph-role", label="tax_officer · tax-audit")
            as_tax_officer = run_and_read(page, as_clerk)
            screenshot(page, "graphiql-role-picker")
        finally:
            browser.close()
    assert refused == []
    for example in ("HousingSubsidy", "Enterprise", "IncomeCheck", "MyAccessLog"):
        assert example in tabs, example
    assert "window_clerk · housing-subsidy" in options and any(
        option.startswith("citizen") for option in options
    )
    clerk, tax_officer = as_clerk.replace("\xa0", " "), as_tax_officer.replace("\xa0", " ")
    assert '"registeredAddress": "北京市东城区"' in clerk and "景山前街" not in clerk, (
        "masked to the district"
    )
    assert '"incomeBelowLimit"' in clerk
    # The tax officer's token now: no grant on the registered address, the property's address in full.
    assert '"registeredAddress": null' in tax_officer and "FORBIDDEN" in tax_officer
    assert "景山前街" in tax_officer
