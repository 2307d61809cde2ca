"""The README's subscription demo in a real browser, offline: GraphiQL's Deaths tab, run as civil affairs,
shows 王建国's death when public security records it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from govgraph.demo.golden import WANG_JIANGUO
from tests.browser import chromium, offline, screenshot
from tests.servers import demo_environ, govgraph_server

RENDERS = 60_000
"""Milliseconds Playwright waits for a step, at most: a bound, not a measure."""


def _live(url: str) -> int:
    return int(httpx.get(f"{url}/readyz", timeout=10).json().get("subscriptions", {}).get("live", 0))


def test_graphiql_s_deaths_tab_receives_the_death(demo_dir: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    city = Path(shutil.copytree(demo_dir, tmp_path / "demo"))
    environ = demo_environ(city, tmp_path, GOVGRAPH_EVENTS_POLL_INTERVAL="0.2")
    with govgraph_server(environ, tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            refused = offline(page, server.url)
            page.goto(f"{server.url}/graphql", timeout=RENDERS)
            page.wait_for_selector(".graphiql-execute-button", timeout=RENDERS)
            page.click(".graphiql-tab >> text=Deaths")
            page.click(".graphiql-execute-button")
            for _ in range(600):
                if _live(server.url):
                    break
                page.wait_for_timeout(100)
            assert _live(server.url) == 1, "GraphiQL's subscription never reached the server"
            # A process of its own: Playwright's sync API holds this thread's event loop.
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "govgraph.cli",
                    "demo",
                    "change",
                    "--dir",
                    str(city),
                    "--death",
                    WANG_JIANGUO,
                ],
                check=True,
                timeout=60,
            )
            page.wait_for_function(
                "() => document.querySelector('.result-window')?.innerText.includes('dateOfDeath')",
                timeout=RENDERS,
            )
            result = page.inner_text(".result-window").replace("\xa0", " ")
            screenshot(page, "graphiql-subscription")
        finally:
            browser.close()

    assert refused == [], "the page asked for nothing outside govgraph"
    assert WANG_JIANGUO in result and "王建国" in result
    assert '"deceased": true' in result
