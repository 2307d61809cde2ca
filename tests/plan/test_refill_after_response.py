"""A compiled one-level plan stores the rows it read in the cache once its response has gone, off the
response's path; the next request finds them there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from tests.auth_helpers import bearer
from tests.plan.test_early_audit import LIST, OFFICER, person_ids


async def asgi_post(
    app: Starlette, body: dict[str, Any], headers: dict[str, str], events: list[str]
) -> bytes:
    """One request straight through the app, noting when its response's last byte was handed over."""
    payload = orjson.dumps(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
    }
    chunks: list[bytes] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                events.append("response sent")

    await app(scope, receive, send)
    return b"".join(chunks)


def record_refills(app: Starlette, monkeypatch: pytest.MonkeyPatch, events: list[str]) -> None:
    backend = app.state.cache.backend
    original = backend.multi_set

    async def multi_set(items: Any, ttl: int) -> None:
        if any(":public_security:" in key for key, _ in items):
            events.append(f"stored {len(items)}")
        await original(items, ttl)

    monkeypatch.setattr(backend, "multi_set", multi_set)


async def statements(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith('govgraph_department_queries_total{department="public_security"}')
    )
    return float(line.rsplit(" ", 1)[1])


async def test_the_rows_are_stored_after_the_response_and_serve_the_next_request(
    served: tuple[Starlette, httpx.AsyncClient], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    ids = await person_ids(demo_dir, 200)
    events: list[str] = []
    record_refills(app, monkeypatch, events)
    body = orjson.loads(await asgi_post(app, {"query": LIST, "variables": {"ids": ids}}, OFFICER, events))
    assert "errors" not in body and [person["idNumber"] for person in body["data"]["persons"]] == ids
    assert events and events[0] == "response sent", events
    assert any(event.startswith("stored") for event in events[1:]), "the rows were stored after it"

    before = await statements(client)
    response = await client.post(
        "/graphql",
        json={"query": LIST, "variables": {"ids": ids}},
        headers=bearer("tax_officer", "tax-audit"),
    )
    again = orjson.loads(response.content)
    assert again["data"] == body["data"]
    [shown] = [
        entry for entry in again["extensions"]["freshness"] if entry["department"] == "public_security"
    ]
    assert shown["servedFrom"] == "cache"
    assert await statements(client) == before, "public_security was not asked again"


async def test_rows_read_before_an_invalidation_are_not_stored_after_the_response(
    served: tuple[Starlette, httpx.AsyncClient], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    ids = await person_ids(demo_dir, 50)
    cache = app.state.cache
    original = cache._refill

    async def refill_after_a_change(*arguments: Any) -> None:
        department = arguments[4]
        if department == "public_security":
            await cache.invalidate(department, ids[3])  # a change lands between the read and the store
        await original(*arguments)

    monkeypatch.setattr(cache, "_refill", refill_after_a_change)
    await asgi_post(app, {"query": LIST, "variables": {"ids": ids}}, OFFICER, [])
    monkeypatch.setattr(cache, "_refill", original)

    before = await statements(client)
    response = await client.post(
        "/graphql",
        json={"query": LIST, "variables": {"ids": ids}},
        headers=bearer("tax_officer", "tax-audit"),
    )
    assert len(orjson.loads(response.content)["data"]["persons"]) == 50
    after = await statements(client)
    assert after == before + 1, "nothing read before the change was kept"
