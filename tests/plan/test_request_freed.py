"""A compiled query's request is freed as soon as it is answered: nothing it read (a thousand rows, the
response) waits for the cyclic garbage collector, whose passes over it would cost every later request."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from govgraph.operation import executor
from govgraph.operation.executor import GovgraphExecutor
from govgraph.resolvers.context import RequestContext
from tests.auth_helpers import bearer
from tests.plan.test_early_audit import person_ids

QUERIES = {
    "one level, audit begun early": "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber name annualIncome } }",
    "two levels": "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name household { householdId } } }",
    "one person": "query($ids: IdNumber!) { person(idNumber: $ids) { name maritalStatus } }",
    "aliases and a fragment": "query($ids: [IdNumber!]!) { a: persons(idNumbers: $ids) { ...F } b: persons(idNumbers: $ids) { gender } } fragment F on Person { name }",
}
OFFICER = bearer("tax_officer", "tax-audit")


@pytest.fixture
def collector_off() -> Iterator[None]:
    """With the cyclic collector off, whatever a request left in a cycle stays where gc can list it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def left_behind() -> list[str]:
    return [
        type(item).__name__
        for item in gc.get_objects()
        if isinstance(item, RequestContext | GovgraphExecutor)
    ]


@pytest.mark.parametrize("shape", sorted(QUERIES))
async def test_a_compiled_request_leaves_nothing_for_the_cyclic_collector(
    served: tuple[Any, httpx.AsyncClient],
    demo_dir: Path,
    collector_off: None,
    shape: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled_runs: list[object] = []
    run = executor.run

    async def counted(*arguments: Any) -> Any:
        compiled_runs.append(None)
        return await run(*arguments)

    monkeypatch.setattr(executor, "run", counted)
    _, client = served
    ids = await person_ids(demo_dir, 50)
    query = QUERIES[shape]
    variables = {"ids": ids[0] if "person(" in query else ids}
    before = left_behind()  # what earlier tests still hold is theirs
    for _ in range(3):
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=OFFICER
        )
        body = orjson.loads(response.content)
        assert response.status_code == 200 and "errors" not in body, response.text[:300]
        assert left_behind() == before
    assert len(compiled_runs) == 3, "each request ran its compiled plan"
