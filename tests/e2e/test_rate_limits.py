"""Rate limits: 429 with Retry-After past the budget, recovery after the window, shared through Redis."""

from __future__ import annotations

import uuid

import pytest

from govgraph.http.ratelimit import MemoryBuckets, Rate
from tests.auth_helpers import bearer
from tests.conftest import AppFactory, require_service

QUERY = {"query": '{ enterprise(creditCode: "91110101MA01BXQ80Y") { name } }'}


async def test_bucket_refills_continuously() -> None:
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    rate = Rate(per_minute=3)
    assert [await buckets.take("s", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await buckets.take("s", rate) == pytest.approx(20.0)
    now[0] += 20
    assert await buckets.take("s", rate) == 0.0
    assert await buckets.take("other", rate) == 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_over_the_budget_is_429_with_retry_after_then_recovers(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_per_subject=3)
    clock = app.state.rate_limit_buckets.clock = Clock()
    headers = bearer("tax_officer", "tax-audit", subject=f"busy-{uuid.uuid4().hex[:6]}")
    statuses = [(await client.post("/graphql", json=QUERY, headers=headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]

    limited = await client.post("/graphql", json=QUERY, headers=headers)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "20"
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    other = await client.post(
        "/graphql", json=QUERY, headers=bearer("tax_officer", "tax-audit", subject="someone-else")
    )
    assert other.status_code == 200, "buckets are per subject"

    clock.now += 20
    assert (await client.post("/graphql", json=QUERY, headers=headers)).status_code == 200
    assert (await client.post("/graphql", json=QUERY, headers=headers)).status_code == 429


async def test_department_budget_covers_all_its_principals(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_per_department=3)
    app.state.rate_limit_buckets.clock = Clock()
    for index in range(3):
        response = await client.post(
            "/graphql", json=QUERY, headers=bearer("police_officer", subject=f"officer-{index}")
        )
        assert response.status_code == 200
    limited = await client.post(
        "/graphql", json=QUERY, headers=bearer("police_officer", subject="officer-new")
    )
    assert limited.status_code == 429


async def test_anonymous_callers_are_limited_by_address(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_anonymous=3)
    app.state.rate_limit_buckets.clock = Clock()
    for _ in range(3):
        assert (await client.post("/graphql", json=QUERY)).status_code == 200
    assert (await client.post("/graphql", json=QUERY)).status_code == 429


async def test_redis_buckets_are_shared_between_processes(app_factory: AppFactory) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    url = "redis://127.0.0.1:6379/12"
    _, first = await app_factory(rate_limit_per_subject=4, rate_limit_url=url)
    _, second = await app_factory(rate_limit_per_subject=4, rate_limit_url=url)
    headers = bearer("tax_officer", "tax-audit", subject=f"shared-{uuid.uuid4().hex}")
    statuses = [
        (await (first if index % 2 else second).post("/graphql", json=QUERY, headers=headers)).status_code
        for index in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429], "4 a minute in all, whichever process answers"
