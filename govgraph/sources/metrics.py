"""Statements sent to each department, read from the sources when Prometheus scrapes.

Sources count their own statements (a plain integer on the hot path); this
collector turns the counts into ``govgraph_department_queries_total`` at
scrape time, so counting costs nothing per query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class DepartmentQueries(Collector):
    def __init__(self, sources: Callable[[], Mapping[str, Any]]) -> None:
        """``sources``: the app's sources by department, once they exist (none before start-up)."""
        self._sources = sources

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "govgraph_department_queries",
            "Statements (or API calls) sent to each department since start-up.",
            labels=["department"],
        )
        for department, source in sorted(self._sources().items()):
            family.add_metric([department], int(getattr(source, "queries", 0)))
        yield family
