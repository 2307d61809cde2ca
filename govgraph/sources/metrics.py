"""Each department's calls as seen from its circuit breaker: statements sent, latency, errors, circuit state.

Real counters and gauges (not read at scrape time), so that with several
workers a scrape adds up every worker's files (Prometheus multiprocess mode).
Sources keep counting their own statements as a plain integer; the observer
moves the difference into ``govgraph_department_queries_total`` after each
call, so nothing is added inside a source's hot loop.

``SourceObserver.begin`` returns one ``SourceCall`` per department call; a
source span is made only while tracing is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sized
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

import govgraph.tracing as tracing
from govgraph.errors import SourceUnavailable

CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}
ERROR_REASONS = ("circuit_open", "timeout", "unavailable")


class SourceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queries = Counter(
            "govgraph_department_queries",
            "Statements (or API calls) sent to each department.",
            ["department"],
            registry=registry,
        )
        self.duration = Histogram(
            "govgraph_source_duration_seconds",
            "Seconds each call to a department took (fetch, lookup, scan), answered or failed.",
            ["department"],
            registry=registry,
        )
        self.errors = Counter(
            "govgraph_source_errors",
            "Department calls that failed, by reason: circuit_open (refused at once), timeout, unavailable.",
            ["department", "reason"],
            registry=registry,
        )
        self.circuit = Gauge(
            "govgraph_source_circuit_state",
            "Each department's circuit breaker: 0 closed, 1 half-open (a probe is out), 2 open; "
            "across workers, the worst.",
            ["department"],
            registry=registry,
            multiprocess_mode="livemax",
        )

    def observer(self, department: str, queries: Callable[[], int]) -> SourceObserver:
        return SourceObserver(department, queries, self)


class SourceObserver:
    """One department's label children, bound once."""

    def __init__(
        self, department: str, queries: Callable[[], int] = lambda: 0, metrics: SourceMetrics | None = None
    ) -> None:
        """``queries``: the source's own count of statements sent."""
        self.department = department
        self.measured = metrics is not None
        self._queries = queries
        self._counted = 0
        if metrics is not None:
            self._queries_child = metrics.queries.labels(department)
            self.duration = metrics.duration.labels(department)
            self.errors = {reason: metrics.errors.labels(department, reason) for reason in ERROR_REASONS}
            self._circuit = metrics.circuit.labels(department)
            self._circuit.set(0)

    def begin(self, kind: str, table: str, keys: int) -> SourceCall:
        span = None
        if tracing.tracer is not None:
            from govgraph.tracing.spans import source_span

            span = source_span(self.department, kind, table, keys)
        elif not self.measured:
            return UNOBSERVED
        return SourceCall(self, time.perf_counter(), span)

    def circuit_moved(self, state: str) -> None:
        if self.measured:
            self._circuit.set(CIRCUIT_STATES[state])

    def sync_queries(self) -> None:
        if self.measured:
            now = self._queries()
            if now != self._counted:
                self._queries_child.inc(now - self._counted)
                self._counted = now


class SourceCall:
    __slots__ = ("observer", "span", "started")

    def __init__(self, observer: SourceObserver | None, started: float, span: Any) -> None:
        self.observer = observer
        self.started = started
        self.span = span

    def done(self, rows: int) -> None:
        observer = self.observer
        if observer is None:
            return
        if observer.measured:
            observer.duration.observe(time.perf_counter() - self.started)
            observer.sync_queries()
        if self.span is not None:
            from govgraph.tracing.spans import end_source_span

            end_source_span(self.span, rows, None)

    def done_grouped(self, found: Mapping[Any, Sized]) -> None:
        """A lookup's rows, grouped by match value: counted only for a span."""
        self.done(sum(map(len, found.values())) if self.span is not None else len(found))

    def failed(self, error: BaseException) -> None:
        observer = self.observer
        if observer is None:
            return
        reason = _reason(error)
        if observer.measured:
            if reason in ("timeout", "unavailable"):
                observer.duration.observe(time.perf_counter() - self.started)
            if reason in observer.errors:
                observer.errors[reason].inc()
            observer.sync_queries()
        if self.span is not None:
            from govgraph.tracing.spans import end_source_span

            end_source_span(self.span, None, reason)


UNOBSERVED = SourceCall(None, 0.0, None)


def _reason(error: BaseException) -> str:
    """A bounded reason: the department's own words stay in the log."""
    if isinstance(error, SourceUnavailable):
        if error.reason == "circuit open":
            return "circuit_open"
        return "timeout" if error.reason.startswith("timed out") else "unavailable"
    return "cancelled" if not isinstance(error, Exception) else type(error).__name__
