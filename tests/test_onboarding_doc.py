"""docs/onboarding.md, followed as written: its shell blocks run in order in a fresh directory laid out
like a clone, every `catalog check` passes, and the seventh department it adds answers its example query
through a real server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.auth_helpers import token
from tests.servers import govgraph_server
from tests.test_readme import ROOT, blocks

GUIDE = ROOT / "docs" / "onboarding.md"


def clone_layout(directory: Path, demo_dir: Path) -> None:
    """What the guide expects in a clone after `make run`: the demo catalog, .venv/bin/govgraph and
    var/demo (its databases linked, so the guide's new file lands here and not in the shared demo)."""
    shutil.copytree(ROOT / "govgraph" / "demo" / "catalog", directory / "govgraph" / "demo" / "catalog")
    (directory / ".venv").symlink_to(Path(sys.executable).parents[1])
    (directory / "var" / "demo").mkdir(parents=True)
    for database in demo_dir.iterdir():
        (directory / "var" / "demo" / database.name).symlink_to(database.resolve())


def run(block: str, directory: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GOVGRAPH_")}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_guide_adds_a_seventh_department(demo_dir: Path, tmp_path: Path) -> None:
    clone = (
        tmp_path / "clone"
    )  # the server runs beside it: a govgraph/ folder in its directory would shadow the package
    clone_layout(clone, demo_dir)
    shell = [
        block for block in blocks(GUIDE, "sh") if "govgraph serve" not in block and "demo api" not in block
    ]
    sql_step = next(index for index, block in enumerate(shell) if "kind: sql" in block)

    for block in shell[: sql_step + 1]:
        finished = run(block, clone)
        assert finished.returncode == 0, finished.stderr
    assert "catalog ok: 7 departments" in finished.stdout

    example = next(block for block in blocks(GUIDE, "graphql") if "housingFundState" in block)
    environ = {
        "GOVGRAPH_CATALOG": str(clone / "my-catalog"),
        "GOVGRAPH_DEMO_DIR": str(clone / "var" / "demo"),
    }
    with govgraph_server(environ, tmp_path) as server:
        answer = httpx.post(
            f"{server.url}/graphql",
            json={"query": example},
            headers={"Authorization": f"Bearer {token('police_officer')}"},
            timeout=30,
        ).json()
    assert answer["data"]["person"] == {"name": "张伟", "housingFundState": "active", "housingFundMonths": 96}

    for block in shell[sql_step + 1 :]:  # the same department behind a JSON API, then a GraphQL service
        finished = run(block, clone)
        assert finished.returncode == 0, finished.stderr
        assert "catalog ok: 7 departments" in finished.stdout
