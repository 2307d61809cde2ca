"""Schemathesis in GraphQL mode against govgraph served over real HTTP on 127.0.0.1.

Every generated query, valid or not, must get an answer without a 500 and
without an INTERNAL error. Bounded in examples and time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from govgraph import Settings, create_app
from tests.auth_helpers import bearer


@schemathesis.check
def no_internal_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    assert response.status_code < 500, f"HTTP {response.status_code}"
    body = response.json()
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors") or []}
    assert "INTERNAL" not in codes, body


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served_url(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scratch = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            audit_url=f"sqlite+aiosqlite:///{scratch}/audit.db",
            audit_spool=scratch / "spool.jsonl",
            rate_limit_per_subject=1e6,
            rate_limit_per_department=1e6,
            rate_limit_anonymous=1e6,
        ),
        environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)},
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/graphql"
    server.should_exit = True
    thread.join(timeout=10)


KEYS = {
    "IdNumber": ["110101199003071233", "110101199208152467", "110105196504123312", "110101200001010002"],
    "CreditCode": ["91110101MA01BXQ80Y", "91110105MA00GK2T0A"],
}


@pytest.fixture(scope="module")
def graphql_schema(served_url: str) -> schemathesis.schemas.BaseSchema:
    for scalar, keys in KEYS.items():
        valid_or_not = st.one_of(st.sampled_from(keys), st.text(max_size=24))
        schemathesis.graphql.scalar(scalar, valid_or_not.map(nodes.String))
    return schemathesis.graphql.from_url(served_url)


EXAMPLES_PER_ROOT_FIELD = 20


def test_no_generated_query_gets_a_500_or_internal(graphql_schema: schemathesis.schemas.BaseSchema) -> None:
    headers = bearer("tax_officer", "tax-audit")
    operations = [result.ok() for result in graphql_schema.get_all_operations()]
    assert len(operations) >= 10, "every root field is an operation"
    answered: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_ROOT_FIELD,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            no_internal_error(None, response, case)  # type: ignore[arg-type]
            answered.append(response.status_code)

        fuzz()
    assert len(answered) >= 5 * len(operations)
    assert answered.count(200) > len(operations), (
        "valid queries were generated and answered, not only rejected ones"
    )
