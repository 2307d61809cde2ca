"""Cache outcomes per department, in the app's own Prometheus registry."""

from __future__ import annotations

from typing import Any

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
        self._children: dict[tuple[str, str], Any] = {}

    def count(self, department: str, outcome: str, amount: int) -> None:
        if amount:
            labels = (department, outcome)
            child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = self._counter.labels(department, outcome)
            child.inc(amount)
            self.totals[labels] = self.totals.get(labels, 0) + amount
