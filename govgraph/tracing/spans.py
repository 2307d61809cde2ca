"""The spans govgraph makes: one per GraphQL request, one per department call, one per audit commit.

Imported only while tracing is on. Attributes name operations, departments,
tables and counts; never a value, a key, a variable, a document, a subject
or a token (``graphql.document`` is left out on purpose).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import govgraph.tracing as tracing

_PROPAGATOR = TraceContextTextMapPropagator()
_CARRIED = (b"traceparent", b"tracestate")


class RequestSpan:
    """The SERVER span of one HTTP request to /graphql, current while the request runs."""

    __slots__ = ("span", "token")

    def __init__(self, scope: dict[str, Any]) -> None:
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in _CARRIED
        }
        parent = _PROPAGATOR.extract(carrier)
        self.span: Span = tracing.tracer.start_span(
            "GraphQL Operation",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope.get("method", ""),
                "url.path": scope.get("path", ""),
                "http.route": scope.get("path", ""),
            },
        )
        self.token = otel_context.attach(trace.set_span_in_context(self.span, parent))

    def finish(
        self,
        *,
        status: int,
        operation_type: str | None,
        operation_name: str | None,
        outcome: str | None,
        error_code: str | None,
    ) -> None:
        otel_context.detach(self.token)
        span = self.span
        if operation_type is not None:
            span.update_name(operation_type)
            span.set_attribute("graphql.operation.type", operation_type)
        if operation_name is not None:
            # A GraphQL Name from the parsed document: letters, digits and underscores only.
            span.set_attribute("graphql.operation.name", operation_name)
        if status:
            span.set_attribute("http.response.status_code", status)
        if outcome is not None:
            span.set_attribute("govgraph.outcome", outcome)
        if outcome == "error" or status >= 500:
            span.set_attribute("error.type", error_code or (str(status) if status >= 500 else "error"))
            span.set_status(Status(StatusCode.ERROR))
        span.end()


def source_span(department: str, kind: str, table: str, keys: int) -> Span:
    return tracing.tracer.start_span(  # type: ignore[no-any-return]
        f"{kind} {department}",
        kind=SpanKind.CLIENT,
        attributes={
            "govgraph.department": department,
            "govgraph.source.operation": kind,
            "govgraph.source.table": table,
            "govgraph.source.keys": keys,
        },
    )


def end_source_span(span: Span, rows: int | None, error: str | None) -> None:
    if rows is not None:
        span.set_attribute("govgraph.source.rows", rows)
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def audit_span() -> Span:
    return tracing.tracer.start_span("audit commit", kind=SpanKind.INTERNAL)  # type: ignore[no-any-return]


def end_audit_span(span: Span, records: int | None, error: str | None) -> None:
    """``records``: how many records the transaction that took this one committed (group commit)."""
    if records is not None:
        span.set_attribute("govgraph.audit.records", records)
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR))
    span.end()
