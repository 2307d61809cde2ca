"""Redis trouble degrades govgraph instead of failing it, and govgraph heals when Redis returns."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.auth_helpers import bearer
from tests.faults import RedisServer, redis_server
from tests.reliability.conftest import fire
from tests.servers import govgraph_server

ZHANG_WEI = "110101199003071233"
CLERK_QUERY = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus registeredAddress }} }}'}
PUBLIC = {"query": '{ enterprise(creditCode: "91110101MA01BXQ80Y") { name status } }'}


def environ_for(redis: RedisServer, demo_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "GOVGRAPH_DEMO_DIR": str(demo_dir),
        "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{tmp_path}/audit.db",
        "GOVGRAPH_AUDIT_SPOOL": str(tmp_path / "journal.jsonl"),
        "GOVGRAPH_CACHE_URL": redis.url,
        "GOVGRAPH_RATE_LIMIT_URL": redis.url,
        "GOVGRAPH_REDIS_POOL_SIZE": "4",
        "GOVGRAPH_REDIS_TIMEOUT": "1",
        "GOVGRAPH_RATE_LIMIT_PER_SUBJECT": "1000000",
        "GOVGRAPH_RATE_LIMIT_PER_DEPARTMENT": "1000000",
        **extra,
    }


def complete(response: Any) -> dict[str, Any]:
    assert isinstance(response, httpx.Response), repr(response)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body


def clerk(index: int = 0) -> dict[str, str]:
    return bearer("window_clerk", "housing-subsidy", subject=f"clerk-{index}")


def test_100_concurrent_requests_share_a_small_pool(demo_dir: Path, tmp_path: Path) -> None:
    with (
        redis_server(tmp_path) as server_redis,
        govgraph_server(
            environ_for(server_redis, demo_dir, tmp_path, GOVGRAPH_RATE_LIMIT_ANONYMOUS="1000000"), tmp_path
        ) as server,
    ):
        responses = asyncio.run(fire(server.url, [(CLERK_QUERY, clerk(index % 10)) for index in range(100)]))
        for response in responses:
            assert complete(response)["data"]["person"]["maritalStatus"] == "married"
        assert redis.Redis(port=server_redis.port).dbsize() > 0, "rows and buckets went to Redis"


def test_redis_killed_then_restarted(demo_dir: Path, tmp_path: Path) -> None:
    with (
        redis_server(tmp_path) as server_redis,
        govgraph_server(
            environ_for(server_redis, demo_dir, tmp_path, GOVGRAPH_RATE_LIMIT_ANONYMOUS="20"), tmp_path
        ) as server,
    ):
        url = f"{server.url}/graphql"
        complete(httpx.post(url, json=CLERK_QUERY, headers=clerk(), timeout=30))
        server_redis.kill()

        public = complete(httpx.post(url, json=PUBLIC, timeout=30))
        assert public["data"]["enterprise"]["status"] == "存续"
        body = complete(httpx.post(url, json=CLERK_QUERY, headers=clerk(), timeout=30))
        assert body["data"]["person"]["maritalStatus"] == "married"
        shown = {entry["department"]: entry["servedFrom"] for entry in body["extensions"]["freshness"]}
        assert shown == {"public_security": "live", "civil_affairs": "live"}

        statuses = [httpx.post(url, json=PUBLIC, timeout=30).status_code for _ in range(25)]
        assert statuses.count(429) >= 5, "the per-process buckets still limit anonymous callers"
        assert "Redis unavailable" in server.output()

        server_redis.start()
        client = redis.Redis(port=server_redis.port)
        for _ in range(60):
            complete(httpx.post(url, json=CLERK_QUERY, headers=clerk(1), timeout=30))
            if client.dbsize() > 0:
                break
            time.sleep(0.5)
        assert client.dbsize() > 0, "govgraph went back to Redis without a restart"
        assert "Redis is back" in server.output()


@pytest.mark.parametrize("fail_closed", [True])
def test_fail_closed_rate_limits_refuse_clearly(demo_dir: Path, tmp_path: Path, fail_closed: bool) -> None:
    with (
        redis_server(tmp_path) as server_redis,
        govgraph_server(
            environ_for(
                server_redis, demo_dir, tmp_path, GOVGRAPH_RATE_LIMIT_FAIL_CLOSED=str(fail_closed).lower()
            ),
            tmp_path,
        ) as server,
    ):
        server_redis.kill()
        response = httpx.post(f"{server.url}/graphql", json=PUBLIC, timeout=30)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMIT_UNAVAILABLE"
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
