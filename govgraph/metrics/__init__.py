"""Prometheus metrics: one ``Metrics`` per app, on the app's own registry.

A per-app registry keeps apps in one process (tests) apart. With
``PROMETHEUS_MULTIPROC_DIR`` set (``govgraph serve --workers N`` sets it),
every sample is also written to that directory, and ``/metrics`` reads every
worker's files instead (``multiprocess.py``).
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry

from govgraph.audit.metrics import AuditMetrics
from govgraph.cache.metrics import CacheMetrics
from govgraph.metrics.requests import RequestMetrics
from govgraph.sources.metrics import SourceMetrics


class Metrics:
    def __init__(self, registry: CollectorRegistry, roles: Collection[str]) -> None:
        self.registry = registry
        self.requests = RequestMetrics(registry, roles)
        self.cache = CacheMetrics(registry)
        self.sources = SourceMetrics(registry)
        self.audit = AuditMetrics(registry)
