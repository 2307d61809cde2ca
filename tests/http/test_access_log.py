"""govgraph serve logs JSON Lines: one access line a request saying who, what, which departments and how
it ended; across the whole authorization matrix, no golden value, personal key or token is in any line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govgraph.demo.golden import (
    GOLDEN_ADDRESS,
    LI_NA,
    NOT_SHARED_SENTINELS,
    OLD_TOWN_TRADING,
    WANG_JIANGUO,
    ZHANG_WEI,
)
from tests.auth_helpers import token
from tests.e2e.test_authorization import MATRIX_QUERY, RAW_VALUES, SCENARIOS
from tests.servers import Server, demo_environ, govgraph_server


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("access-log")
    with govgraph_server(demo_environ(demo_dir, directory), directory) as running:
        yield running


def json_lines(server: Server) -> list[dict[str, Any]]:
    lines = [line for line in server.output().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        if line.startswith("govgraph: "):  # the start-up summary `govgraph serve` prints before logging
            continue
        parsed.append(json.loads(line))  # every log line is one JSON object
    return parsed


def access_lines(server: Server, request_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The access lines of these requests; a line is written as its response ends, so it may follow the
    answer by a moment: read again, a bounded number of times, until every one is there."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(100):
        found = {
            line["request_id"]: line
            for line in json_lines(server)
            if line["logger"] == "govgraph.access" and line.get("request_id") in request_ids
        }
        if len(found) == len(request_ids):
            break
        time.sleep(0.1)
    return found


def test_the_authorization_matrix_leaves_no_value_key_or_token_in_the_logs(server: Server) -> None:
    tokens: list[str] = []
    request_ids: set[str] = set()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for role, purpose, _ in SCENARIOS.values():
            headers = {}
            if role is not None:
                tokens.append(token(role, purpose))
                headers["Authorization"] = f"Bearer {tokens[-1]}"
            for person in (ZHANG_WEI, LI_NA, WANG_JIANGUO):
                variables = {"id": person, "code": OLD_TOWN_TRADING}
                posted = client.post(
                    "/graphql", json={"query": MATRIX_QUERY, "variables": variables}, headers=headers
                )
                got = client.get(
                    "/graphql",
                    params={"query": MATRIX_QUERY, "variables": json.dumps(variables)},
                    headers={**headers, "GraphQL-Require-Preflight": "1"},
                )
                for response in (posted, got):
                    assert response.status_code == 200, response.text
                    request_ids.add(response.headers["x-request-id"])
        forged = token("tax_officer", "tax-audit")[:-6] + "AAAAAA"
        tokens.append(forged)
        refused = client.post(
            "/graphql", json={"query": MATRIX_QUERY}, headers={"Authorization": f"Bearer {forged}"}
        )
        assert refused.status_code == 401
    lines = json_lines(server)
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)

    forbidden = [
        ZHANG_WEI,
        LI_NA,
        WANG_JIANGUO,
        OLD_TOWN_TRADING,
        GOLDEN_ADDRESS,
        *RAW_VALUES.values(),
        *NOT_SHARED_SENTINELS.values(),
        *tokens,
        *(part for issued in tokens for part in issued.split(".")[1:]),
    ]
    leaked = [value for value in forbidden if value in text]
    assert leaked == [], f"{len(leaked)} values, keys or tokens appear in the logs"
    assert len(access_lines(server, request_ids)) == len(request_ids), "one access line a request"


def test_an_access_line_says_who_what_where_and_how_it_ended(server: Server) -> None:
    query = """query HousingCheck($id: IdNumber!) {
      person(idNumber: $id) { name registeredAddress annualIncome properties { certificateNo } }
    }"""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post(
            "/graphql",
            json={"query": query, "variables": {"id": ZHANG_WEI}, "operationName": "HousingCheck"},
            headers={"Authorization": f"Bearer {token('window_clerk', 'housing-subsidy')}"},
        )
        invalid = client.post("/graphql", json={"query": "{ person(idNumber: 1) { nope } }"})
        too_large = client.post(
            "/graphql", content=b"{" + b" " * 300_000 + b"}", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200 and too_large.status_code == 413
    ids = {
        response.headers["x-request-id"],
        invalid.headers["x-request-id"],
        too_large.headers["x-request-id"],
    }

    lines = access_lines(server, ids)

    line = lines[response.headers["x-request-id"]]
    assert line["level"] == "info" and line["method"] == "POST" and line["path"] == "/graphql"
    assert line["status"] == 200 and line["operation"] == "HousingCheck"
    assert line["subject"] == "officer-window_clerk" and line["department"] == "government_service_center"
    assert line["roles"] == ["window_clerk"] and line["purpose"] == "housing-subsidy"
    assert line["departments"] == ["natural_resources", "public_security"]
    assert line["outcome"] == "partial", "annualIncome is denied: data with an error"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert lines[invalid.headers["x-request-id"]]["outcome"] == "rejected", "it did not validate"
    assert lines[too_large.headers["x-request-id"]]["outcome"] == "rejected"
    assert lines[too_large.headers["x-request-id"]]["status"] == 413
