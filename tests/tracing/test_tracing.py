"""Tracing against a real OTLP/HTTP receiver: ``govgraph serve`` with ``GOVGRAPH_OTEL_ENDPOINT`` sends a
request span, a span per department call and one per audit commit, under the caller's ``traceparent``,
carrying no value, variable, document or token; without it, nothing is sent and OpenTelemetry is never
imported."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from govgraph.demo import golden
from tests.auth_helpers import token
from tests.servers import demo_environ, govgraph_server
from tests.tracing.otlp import otlp_receiver

ROOT = Path(__file__).resolve().parents[2]
QUERY = "query TaxCheck($id: IdNumber!) { person(idNumber: $id) { name annualIncome maritalStatus } }"
SERVER_KIND = 2
CLIENT_KIND = 3
STATUS_ERROR = 2


def golden_values() -> set[str]:
    """Every value of the golden records long enough to be told apart from a word govgraph uses."""
    values: set[str] = set()
    records = [*golden.PERSONS, *golden.HOUSEHOLDS, golden.NOT_SHARED_SENTINELS]
    for name in dir(golden):
        item = getattr(golden, name)
        if isinstance(item, str):
            values.add(item)
        elif isinstance(item, list) and all(isinstance(entry, dict) for entry in item):
            records.extend(item)
    for record in records:
        values.update(str(entry) for entry in record.values() if entry is not None)
    return {value for value in values if len(value) >= 6 or not value.isascii()}


def ask(url: str, bearer: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": QUERY, "variables": {"id": golden.ZHANG_WEI}},
        headers={"Authorization": f"Bearer {bearer}", "Cache-Control": "no-cache", **(headers or {})},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_request_is_traced_under_its_callers_traceparent(demo_dir: Path, tmp_path: Path) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    officer = token("tax_officer", "tax-audit")
    with otlp_receiver() as receiver:
        environ = demo_environ(
            demo_dir,
            tmp_path,
            GOVGRAPH_OTEL_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="50",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        )
        with govgraph_server(environ, tmp_path) as server:
            body = ask(server.url, officer, {"traceparent": f"00-{trace_id}-{parent_id}-01"})
            assert body["data"]["person"]["annualIncome"] == 186000  # type: ignore[index]
            ask(server.url, officer)
        # The server has exited: its shutdown flushed every span still buffered.
        spans = receiver.snapshot()

    traced = [span for span in spans if span.trace_id == trace_id]
    [request] = [span for span in traced if span.kind == SERVER_KIND]
    assert request.parent_span_id == parent_id, "the caller's traceparent is the parent"
    assert request.name == "query"
    assert request.attributes["graphql.operation.name"] == "TaxCheck"
    assert request.attributes["graphql.operation.type"] == "query"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["govgraph.outcome"] == "ok"
    assert "graphql.document" not in request.attributes
    assert request.resource["service.name"] == "govgraph"
    assert request.resource["deployment.environment.name"] == "test"

    calls = [span for span in traced if span.kind == CLIENT_KIND]
    departments = {span.attributes["govgraph.department"] for span in calls}
    assert departments == {"public_security", "taxation", "civil_affairs"}
    for span in calls:
        assert span.parent_span_id == request.span_id, span
        assert span.attributes["govgraph.source.rows"] == 1
        assert span.attributes["govgraph.source.keys"] == 1
        assert span.status_code != STATUS_ERROR

    [audit] = [span for span in traced if span.name == "audit commit"]
    assert audit.parent_span_id == request.span_id
    assert audit.attributes["govgraph.audit.records"] >= 1

    untraced = [span for span in spans if span.kind == SERVER_KIND and span.trace_id != trace_id]
    assert len(untraced) == 1 and untraced[0].parent_span_id == "", "no traceparent: a trace of its own"

    forbidden = {
        *golden_values(),
        "186000",
        officer,
        officer.rsplit(".", 1)[-1],
        QUERY,
        "annualIncome",
        json.dumps({"id": golden.ZHANG_WEI}),
        "officer-tax_officer",
    }
    carried = [text for span in spans for text in span.texts] + [
        str(value) for span in spans for value in span.resource.values()
    ]
    leaks = {value for value in forbidden for text in carried if value in text}
    assert not leaks, leaks


def test_a_failing_department_marks_its_span(demo_dir: Path, tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        environ = demo_environ(
            demo_dir,
            tmp_path,
            GOVGRAPH_OTEL_ENDPOINT=receiver.url,
            GOVGRAPH_TAXATION_URL=f"sqlite+aiosqlite:///{tmp_path}/gone/taxation.db",
        )
        with govgraph_server(environ, tmp_path) as server:
            body = ask(server.url, token("tax_officer", "tax-audit"))
            assert body["errors"]
        spans = receiver.snapshot()
    [failed] = [span for span in spans if span.attributes.get("govgraph.department") == "taxation"]
    assert failed.status_code == STATUS_ERROR
    assert failed.attributes["error.type"] == "unavailable"
    assert "govgraph.source.rows" not in failed.attributes
    [request] = [span for span in spans if span.kind == SERVER_KIND]
    assert request.attributes["govgraph.outcome"] == "partial"


def test_without_an_endpoint_nothing_is_exported(demo_dir: Path, tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        # OpenTelemetry's own variables alone switch nothing on: only GOVGRAPH_OTEL_ENDPOINT does.
        environ = demo_environ(
            demo_dir,
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_TRACES_EXPORTER="otlp",
        )
        with govgraph_server(environ, tmp_path) as server:
            trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
            ask(server.url, token("tax_officer", "tax-audit"), {"traceparent": trace})
        assert receiver.posts == 0 and receiver.snapshot() == []


OFF_PROBE = """
import asyncio, json, sys
import httpx
from asgi_lifespan import LifespanManager
from govgraph import Settings, create_app
import govgraph.tracing
from tests.auth_helpers import bearer

async def main():
    settings = Settings(audit_url=sys.argv[2], audit_spool=sys.argv[3])
    app = create_app(settings, environ={"GOVGRAPH_DEMO_DIR": sys.argv[1]})
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://govgraph.test") as client:
            response = await client.post(
                "/graphql",
                json={"query": sys.argv[4], "variables": {"id": sys.argv[5]}},
                headers={**bearer("tax_officer", "tax-audit"), "traceparent": sys.argv[6]},
            )
            assert response.json()["data"]["person"]["annualIncome"] == 186000
    from opentelemetry import trace

    tracing_modules = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "govgraph.tracing.")
    loaded = sorted(name for name in sys.modules if name.startswith(tracing_modules))
    print(json.dumps({
        "loaded": loaded,
        "tracer": govgraph.tracing.tracer is None,
        "provider": trace._TRACER_PROVIDER is None,
    }))

asyncio.run(main())
"""


def test_when_off_no_tracer_provider_is_installed(demo_dir: Path, tmp_path: Path) -> None:
    """A fresh interpreter, so nothing another test imported counts. (redis-py imports OpenTelemetry's
    API and metrics SDK by itself when they are installed; the trace SDK, the exporter and govgraph's span
    code are never loaded, and no tracer provider is set.)"""
    trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            OFF_PROBE,
            str(demo_dir),
            f"sqlite+aiosqlite:///{tmp_path}/audit.db",
            str(tmp_path / "spool.jsonl"),
            QUERY,
            golden.ZHANG_WEI,
            trace,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen == {"loaded": [], "tracer": True, "provider": True}
