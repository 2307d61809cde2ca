"""The README and docs/ work when pasted: every curl example runs against a demo server and answers data
without errors, every GraphQL example validates, and every relative link names a file in the repository."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.auth_helpers import token
from tests.servers import Server, demo_environ, govgraph_server

ROOT = Path(__file__).parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def blocks(path: Path, language: str) -> list[str]:
    found = []
    for indent, kind, body in FENCE.findall(path.read_text(encoding="utf-8")):
        if kind == language:
            found.append("\n".join(line.removeprefix(indent) for line in body.splitlines()))
    return found


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("readme")
    with govgraph_server(demo_environ(demo_dir, directory), directory) as running:
        yield running


CURL_EXAMPLES = [block for block in blocks(ROOT / "README.md", "sh") if "curl " in block]


def test_the_readme_has_curl_examples() -> None:
    assert len(CURL_EXAMPLES) >= 2


@pytest.mark.parametrize("example", CURL_EXAMPLES)
def test_a_curl_example_works_when_pasted(example: str, server: Server) -> None:
    govgraph = Path(sys.executable).parent / "govgraph"
    script = example.replace("http://127.0.0.1:8000", server.url).replace(".venv/bin/govgraph", str(govgraph))
    finished = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 0, finished.stderr
    answer = json.loads(finished.stdout)
    if "/subscriptions" in example:  # a webhook registration answers with its id and secret
        assert answer["id"].startswith("sub_") and answer["secret"].startswith("whsec_"), finished.stdout
        return
    assert answer.get("data") and "errors" not in answer, finished.stdout


GRAPHQL_EXAMPLES = [
    (path.name, block)
    for path in DOCUMENTS
    if path.name != "onboarding.md"  # its examples need its seventh department: test_onboarding_doc.py
    for block in blocks(path, "graphql")
    if "{" in block
]


@pytest.mark.parametrize(("document", "example"), GRAPHQL_EXAMPLES)
def test_a_graphql_example_validates(document: str, example: str, server: Server) -> None:
    if example.lstrip().startswith("subscription"):
        # Subscribed to as Server-Sent Events by the role the examples are written for; the stream opening
        # (200, text/event-stream) means the document validated and was authorized.
        headers = {"Authorization": f"Bearer {token('civil_affairs_officer')}", "Accept": "text/event-stream"}
        with httpx.stream(
            "POST", f"{server.url}/graphql/stream", json={"query": example}, headers=headers, timeout=30
        ) as response:
            assert response.status_code == 200, (document, response.read())
            assert response.headers["content-type"].startswith("text/event-stream")
        return
    headers = {"Authorization": f"Bearer {token('window_clerk', 'housing-subsidy')}"}
    answer = httpx.post(f"{server.url}/graphql", json={"query": example}, headers=headers, timeout=30).json()

    codes = {error.get("extensions", {}).get("code") for error in answer.get("errors", [])}
    assert "data" in answer and answer["data"] is not None, (document, answer)
    assert codes <= {"FORBIDDEN", "LISTING_UNSUPPORTED"}, (document, answer)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_links_name_files_in_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{path.name} links to {target}"
