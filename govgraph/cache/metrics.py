"""Cache outcomes per department, in the app's own Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "govgraph_cache_rows",
            "Rows looked up in the cache, by department and outcome (hit, miss, stale, passthrough).",
            ["department", "outcome"],
            registry=registry,
        )
        self.totals: dict[tuple[str, str], int] = {}

    def count(self, department: str, outcome: str, amount: int) -> None:
        if amount:
            self._counter.labels(department, outcome).inc(amount)
            self.totals[(department, outcome)] = self.totals.get((department, outcome), 0) + amount
