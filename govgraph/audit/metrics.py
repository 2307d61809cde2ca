"""Audit commits: how long the store took to commit a group of records, and commits that failed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

FAILURE_REASONS = ("timeout", "error", "stuck")


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        duration = Histogram(
            "govgraph_audit_write_duration_seconds",
            "Seconds the audit store took to commit one group of records (one transaction), when it answered.",
            registry=registry,
        )
        failures = Counter(
            "govgraph_audit_write_failures",
            "Group commits that failed: timeout (no answer within GOVGRAPH_AUDIT_TIMEOUT), error "
            "(the store refused), stuck (too many earlier commits still hang: not tried).",
            ["reason"],
            registry=registry,
        )
        self.duration = duration
        self.failures = {reason: failures.labels(reason) for reason in FAILURE_REASONS}
