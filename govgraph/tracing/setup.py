"""Switching tracing on: a tracer provider of govgraph's own, exporting over OTLP/HTTP in batches.

The provider is not installed as OpenTelemetry's global one: several apps may
share a test process, and each app's lifespan starts and shuts down its own.
The sampler, exporter headers and timeouts follow the standard ``OTEL_*``
variables, as do resource attributes (``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_SERVICE_NAME``; the service is ``govgraph`` unless they name it).
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import govgraph.tracing as tracing

TRACES_PATH = "/v1/traces"
_current: TracerProvider | None = None


def traces_url(endpoint: str) -> str:
    """``http://collector:4318`` → ``http://collector:4318/v1/traces`` (a full URL is kept as it is)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def resource() -> Resource:
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: "govgraph"}))
    return detected


def start(endpoint: str) -> TracerProvider:
    """Export spans to ``endpoint`` from now on; ``stop`` flushes them."""
    provider = TracerProvider(resource=resource())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    global _current
    _current = provider
    tracing.tracer = provider.get_tracer("govgraph")
    return provider


def stop(provider: TracerProvider) -> None:
    """Export what is buffered and switch tracing off (only if this provider is the one in use)."""
    global _current
    if _current is provider:
        _current = None
        tracing.tracer = None
    provider.shutdown()
