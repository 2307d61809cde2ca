"""OpenTelemetry tracing, off unless ``GOVGRAPH_OTEL_ENDPOINT`` is set.

This module holds only the switch: ``tracer`` is ``None`` while tracing is
off, and the hot path tests nothing else. The SDK and the span helpers
(``setup.py``, ``spans.py``) are imported only once tracing is switched on.
"""

from __future__ import annotations

from typing import Any

tracer: Any = None
"""The ``opentelemetry.trace.Tracer`` spans come from; ``None``: tracing is off (one per process)."""
