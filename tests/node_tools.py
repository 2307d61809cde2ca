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
STARTUP_LINES = 50


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
        ["node", script, *arguments],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


class NodeServer:
    """A server script of tests/node in a process of its own, until ``stop``."""

    def __init__(self, script: str, *arguments: str) -> None:
        directory = require_node_tools()
        self.process = subprocess.Popen(
            ["node", script, *arguments],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        for _ in range(STARTUP_LINES):  # the script prints {"ready": url} once it listens, or exits
            line = self.process.stdout.readline()
            if not line:
                error = self.process.stderr.read() if self.process.stderr else ""
                raise RuntimeError(f"{script} did not start: {error[-3000:]}")
            if line.startswith("{"):
                self.url: str = json.loads(line)["ready"]
                return
        raise RuntimeError(f"{script} printed no ready line")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
