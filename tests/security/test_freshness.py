"""Freshness must not let one principal infer another's reads.

For every principal, a response must look the same whether or not somebody
else read the same record a moment before: the same data, the same
``extensions.freshness``. Run each scenario twice on apps whose clocks agree,
once with the other principal's read first and once without, and compare.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth_helpers import bearer
from tests.conftest import AppFactory, QueryCounter, graphql
from tests.security.corpus import EXAMPLE_TECH, ZHANG_WEI

QUERY = """
query($id: IdNumber!, $code: CreditCode!) {
  person(idNumber: $id) { name maritalStatus registeredAddress household { members { name } } }
  enterprise(creditCode: $code) { status }
}"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def start(app_factory: AppFactory, now: float) -> tuple[Any, Any, Clock]:
    app, client = await app_factory()
    clock = Clock(now)
    app.state.cache.clock = clock
    return app, client, clock


async def read(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    body = await graphql(client, QUERY, {"id": ZHANG_WEI, "code": EXAMPLE_TECH}, headers)
    return {"data": body["data"], "freshness": body["extensions"]["freshness"]}


CLERK = bearer("window_clerk", "housing-subsidy", subject="clerk-a")
OTHER_CLERK = bearer("window_clerk", "housing-subsidy", subject="clerk-b")
TAX = bearer("tax_officer", "tax-audit")
POLICE = bearer("police_officer", "household-admin")


@pytest.mark.parametrize(
    "earlier, later",
    [(TAX, CLERK), (POLICE, CLERK), (CLERK, TAX), (CLERK, OTHER_CLERK)],
    ids=["tax-then-clerk", "police-then-clerk", "clerk-then-tax", "colleague-in-the-same-department"],
)
@pytest.mark.parametrize("gap", [1.0, 3_000.0])
async def test_an_earlier_read_by_someone_else_is_invisible(
    app_factory: AppFactory, earlier: dict[str, str], later: dict[str, str], gap: float
) -> None:
    start_time = 1_800_000_000.0
    _, alone_client, alone_clock = await start(app_factory, start_time)
    _, shared_client, shared_clock = await start(app_factory, start_time)

    await read(shared_client, earlier)
    alone_clock.now = shared_clock.now = start_time + gap
    assert await read(shared_client, later) == await read(alone_client, later)


async def test_another_departments_reads_do_not_warm_this_ones_cache(app_factory: AppFactory) -> None:
    app, client, _ = await start(app_factory, 1_800_000_000.0)
    queries = QueryCounter(app)
    await read(client, TAX)
    queries.reset()
    await read(client, CLERK)
    assert queries.counts["public_security"] > 0 and queries.counts["civil_affairs"] > 0
    queries.reset()
    await read(client, OTHER_CLERK)
    assert queries.counts["public_security"] == 0 and queries.counts["civil_affairs"] == 0, (
        "within a department, entries are shared"
    )


async def test_the_audit_record_keeps_the_truth(app_factory: AppFactory) -> None:
    app, client, _ = await start(app_factory, 1_800_000_000.0)
    first = await graphql(client, QUERY, {"id": ZHANG_WEI, "code": EXAMPLE_TECH}, CLERK)
    second = await graphql(client, QUERY, {"id": ZHANG_WEI, "code": EXAMPLE_TECH}, OTHER_CLERK)
    shown = {entry["department"]: entry["servedFrom"] for entry in second["extensions"]["freshness"]}
    assert shown["civil_affairs"] == "cache"
    await app.state.audit_writer.flush()
    from govgraph.audit.store import AuditFilter

    records = {
        stored.record.request_id: stored.record
        for stored in await app.state.audit_store.query(AuditFilter(), 10, None)
    }
    truth = {
        entity.department: entity.served_from for entity in records[first["extensions"]["requestId"]].entities
    }
    assert truth["civil_affairs"] == "live"
    truth = {
        entity.department: entity.served_from
        for entity in records[second["extensions"]["requestId"]].entities
    }
    assert truth["civil_affairs"] == "cache"
