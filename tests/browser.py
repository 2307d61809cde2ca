"""A real browser for page tests: Debian's chromium driven by Playwright, with the network cut off.

``chromium()`` finds ``/usr/bin/chromium`` (installing Debian's package in CI when it is missing and
apt-get may run), never Playwright's own download. ``offline(page, allowed)`` aborts every request
that is not for the server under test and returns the list of what was refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parents[1] / "var" / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.environ.get("CI") == "true" and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=False, timeout=900
        )
        found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is required in CI for the page tests (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def offline(page: object, allowed: str) -> list[str]:
    """Abort every request not for ``allowed`` (a base URL); the refused URLs are collected."""
    refused: list[str] = []

    def route(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(allowed) or url.startswith("data:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            refused.append(url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", route)  # type: ignore[attr-defined]
    return refused


def screenshot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
