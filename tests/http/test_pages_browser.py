"""In a real browser with the network cut off, the catalog and usage pages render from govgraph alone:
the catalog's entity tables, and the usage dashboard's SVG charts after a few real queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govgraph.demo.golden import ZHANG_WEI
from tests.auth_helpers import token
from tests.browser import chromium, offline, screenshot
from tests.servers import Server, demo_environ, govgraph_server

RENDERS = 60_000
"""Milliseconds Playwright waits for a step, at most: a bound, not a measure."""
TALL = {"width": 1280, "height": 1600}
QUERIES = [
    ("window_clerk", "housing-subsidy", "name registeredAddress maritalStatus annualIncome"),
    ("tax_officer", "tax-audit", "annualIncome taxCompliant"),
    ("police_officer", "household-admin", "registeredAddress annualIncome"),
]


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("pages-browser")
    with govgraph_server(demo_environ(demo_dir, directory), directory) as running:
        for role, purpose, fields in QUERIES:
            response = httpx.post(
                f"{running.url}/graphql",
                json={"query": '{ person(idNumber: "%s") { %s } }' % (ZHANG_WEI, fields)},
                headers={"Authorization": f"Bearer {token(role, purpose)}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
        yield running


def bearer(role: str, purpose: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, purpose)}"}


def test_the_catalog_renders_its_entity_tables_for_the_clerk(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                extra_http_headers=bearer("window_clerk", "housing-subsidy"), viewport=TALL
            )
            page = context.new_page()
            refused = offline(page, server.url)
            response = page.goto(f"{server.url}/catalog", timeout=RENDERS)
            page.wait_for_selector("table.entity", timeout=RENDERS)
            entities = page.eval_on_selector_all(
                "table.entity", "tables => tables.map(t => t.dataset.entity)"
            )
            roles = page.eval_on_selector_all(
                "section.access", "sections => sections.map(s => s.dataset.role)"
            )
            verify = page.inner_text(
                'section[data-role="window_clerk"] tr[data-coordinate="Person.annualIncome"]'
            )
            screenshot(page, "catalog-clerk")
        finally:
            browser.close()
    assert response is not None and response.status == 200
    assert refused == [], "the page asked for nothing outside govgraph"
    assert entities == ["Person", "Household", "Enterprise", "Property"]
    assert roles == ["window_clerk"]
    assert "verify" in verify


def test_graphiql_s_catalog_link_leads_to_the_token_form_which_opens_the_catalog(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            refused = offline(page, server.url)
            page.goto(f"{server.url}/graphql", timeout=RENDERS)
            page.click("#govgraph-catalog", timeout=RENDERS)
            page.wait_for_selector("input[name=token]", timeout=RENDERS)
            signed_out = page.inner_text("main")
            page.fill("input[name=token]", token("auditor", "oversight"))
            page.click("button[type=submit]", timeout=RENDERS)
            page.wait_for_selector("table.entity", timeout=RENDERS)
            roles = page.eval_on_selector_all(
                "section.access", "sections => sections.map(s => s.dataset.role)"
            )
            address = page.url
        finally:
            browser.close()
    assert refused == []
    assert "bearer token" in signed_out.lower() and "Person" not in signed_out
    assert len(roles) == 7, "the auditor oversees every role"
    assert address == f"{server.url}/catalog", "the token went in the body, not the address"


def test_the_usage_dashboard_renders_its_charts_for_the_auditor(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(extra_http_headers=bearer("auditor", "oversight"), viewport=TALL)
            page = context.new_page()
            refused = offline(page, server.url)
            response = page.goto(f"{server.url}/usage?days=7", timeout=RENDERS)
            page.wait_for_selector("svg[role=img] rect.bar", timeout=RENDERS)
            charts = page.eval_on_selector_all("svg[role=img]", "charts => charts.length")
            drawn = page.eval_on_selector_all(
                "svg[role=img] rect",
                "rects => rects.filter(r => r.getBoundingClientRect().width > 0).length",
            )
            denials = page.inner_text("table.denials")
            matrix = page.inner_text("table.matrix")
            screenshot(page, "usage-auditor")

            clerk = browser.new_context(extra_http_headers=bearer("window_clerk", "housing-subsidy"))
            forbidden = clerk.new_page()
            refused += offline(forbidden, server.url)
            refusal = forbidden.goto(f"{server.url}/usage", timeout=RENDERS)
            forbidden_charts = forbidden.eval_on_selector_all("svg", "charts => charts.length")
        finally:
            browser.close()
    assert response is not None and response.status == 200
    assert refused == []
    assert charts == 4 and drawn >= 4
    assert "Person.annualIncome" in denials and "window_clerk" in denials and "police_officer" in denials
    assert "public_security" in matrix and "government_service_center" in matrix
    assert refusal is not None and refusal.status == 403 and forbidden_charts == 0
