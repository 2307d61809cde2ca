"""The Node tools some tests drive (tests/node: graphql-http's audit, federation composition, a gateway),
installed from tests/node/package-lock.json by ``npm ci`` when missing or older than the lockfile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"


def require_node_tools() -> Path:
    """tests/node with its node_modules in place; a skip without Node (a failure in CI)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Node.js and npm are required in CI (tests/node)")
        pytest.skip("Node.js and npm are not installed")
    lock = NODE_DIR / "package-lock.json"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )
    return NODE_DIR


def run_node(script: str, *arguments: str, timeout: float = 300) -> Any:
    """Run a script of tests/node and parse the JSON it prints last."""
    directory = require_node_tools()
    finished = subprocess.run(
        ["node", script, *arguments], cwd=directory, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])
