"""The Starlette application: /graphql (with GraphiQL), /healthz and /readyz.

``create_app(settings)`` builds everything from one settings object. The
catalog and policy are read and the schema built at construction;
department engines are opened in the lifespan and disposed on shutdown.
Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.extensions import DisableIntrospection, ParserCache

from govgraph.audit.extension import AuditExtension
from govgraph.audit.store import AuditStore
from govgraph.audit.writer import AuditWriter
from govgraph.auth.coordinates import build_requirements
from govgraph.auth.decisions import Authorizer
from govgraph.auth.exposure import find_exposures
from govgraph.auth.middleware import AuthenticationMiddleware
from govgraph.auth.policy import OPERATIONS, Policy, load_policy
from govgraph.auth.questions import MemoryQuestions, QuestionWindow, RedisQuestions
from govgraph.auth.tokens import TokenVerifier, verifier_for
from govgraph.cache.backend import backend_for
from govgraph.cache.invalidation import InvalidationListener
from govgraph.cache.policy import CachePolicy
from govgraph.cache.rows import RowCache
from govgraph.catalog.loader import load_catalog
from govgraph.catalog.model import Catalog
from govgraph.catalog.specs import GraphQLSourceSpec, HttpSourceSpec
from govgraph.endpoint import GraphQLEndpoint
from govgraph.errors import AuditStoreError, CatalogError
from govgraph.events.runtime import parser, start_events
from govgraph.http import collector
from govgraph.http.access_log import AccessLogMiddleware
from govgraph.http.admission import AdmissionMiddleware
from govgraph.http.changes import change_receivers, changes_endpoint
from govgraph.http.forwarded import ClientAddressMiddleware
from govgraph.http.guard import PREFLIGHT_HEADERS, GraphQLHTTPGuard
from govgraph.http.ide import ASSET_PATH, STATIC
from govgraph.http.observation import ObservationMiddleware
from govgraph.http.pages import catalog_page, usage_page
from govgraph.http.persisted import PersistedDocuments, load_manifest
from govgraph.http.ratelimit import (
    Buckets,
    FallbackBuckets,
    MemoryBuckets,
    Rate,
    RateLimitMiddleware,
    RedisBuckets,
)
from govgraph.http.signature import RouterSignatureMiddleware
from govgraph.http.sse import graphql_stream
from govgraph.http.subscriptions import subscriptions_endpoint
from govgraph.http.websocket import graphql_websocket
from govgraph.metrics import Metrics, multiprocess
from govgraph.metrics.endpoint import metrics_endpoint
from govgraph.operation.extensions import text_limits_extension, validation_extension
from govgraph.operation.limits import Limits
from govgraph.operation.prepared import PreparedOperations
from govgraph.readiness import check_at_startup, readiness
from govgraph.schema.build import build_schema
from govgraph.schema.root import entity_root_fields
from govgraph.settings import Settings
from govgraph.sources.base import Source
from govgraph.sources.breaker import BreakerSource, CircuitBreaker
from govgraph.sources.engines import Engines
from govgraph.sources.graphql import GraphQLSource
from govgraph.sources.http import HttpSource
from govgraph.sources.sql import SqlSource

logger = logging.getLogger("govgraph.server")


def create_app(settings: Settings | None = None, *, environ: Mapping[str, str] | None = None) -> Starlette:
    """Build the app; ``environ`` replaces ``os.environ`` for the catalog's ``${VAR}`` references."""
    settings = settings or Settings()
    registry = CollectorRegistry(auto_describe=True)
    catalog = load_catalog(settings.catalog, env=environ)
    policy = load_policy(settings.policy_path, catalog)
    metrics = Metrics(registry, policy.roles)
    for exposure in find_exposures(catalog, policy):
        logger.warning("policy: %s", exposure.message)
    authorizer = (
        Authorizer(catalog, policy, OPERATIONS, settings.max_verify_questions)
        if settings.authorization
        else None
    )
    requirements = build_requirements(catalog, entity_root_fields(catalog), OPERATIONS)
    limits = Limits(**{limit.name: getattr(settings, limit.name) for limit in dataclasses.fields(Limits)})
    production = settings.environment == "production"
    schema, _ = build_schema(
        catalog,
        policy,
        extensions=_extensions(settings, limits),
        hide_suggestions=production,
        max_keys=settings.max_keys,
        access_directives=settings.federation_access_directives,
    )
    buckets = _buckets(settings)
    persisted = _persisted_documents(settings)
    verifier = verifier_for(settings)
    graphql = GraphQLEndpoint(
        schema,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        catalog=catalog,
        authorizer=authorizer,
        requirements=requirements,
        limits=limits,
        production=production,
        prepared=PreparedOperations(settings.plan_cache_size),
        compile_plans=settings.compiled_plans,
        shareable_roots=frozenset({*entity_root_fields(catalog), "_entities"}),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        traces = _start_tracing(settings)
        engines = Engines(settings.pool_size, settings.connect_timeout)
        sources = build_sources(catalog, settings, engines, environ, metrics=metrics)
        app.state.sources = sources
        app.state.engines = engines
        audit_store = AuditStore(
            settings.audit_url,
            pool_size=settings.audit_pool_size,
            timeout=settings.audit_timeout,
            connect_timeout=settings.connect_timeout,
        )
        app.state.audit_store = audit_store
        _prepare_sqlite_directory(settings.audit_url)
        await asyncio.gather(_open_audit(audit_store), *(source.open() for source in sources.values()))
        audit_writer = AuditWriter(
            audit_store, settings.audit_spool, timeout=settings.audit_timeout, metrics=metrics.audit
        )
        app.state.audit_writer = audit_writer
        await audit_writer.start()
        cache = RowCache(
            backend_for(
                settings.cache_url,
                settings.cache_max_entries,
                pool_size=settings.redis_pool_size,
                timeout=settings.redis_timeout,
            ),
            CachePolicy(catalog),
            app.state.cache_metrics,
            partitions=consumer_departments(catalog, policy),
        )
        app.state.cache = cache
        listener = InvalidationListener(
            cache, [department.source.url for department in catalog.departments.values()]
        )
        if settings.cache_listen:
            await listener.start()
        app.state.invalidation = listener
        app.state.questions = _question_window(settings)
        if app.state.settle_heap:
            collector.settle()
        app.state.change_receivers = (
            change_receivers(catalog, os.environ if environ is None else environ)
            if settings.subscriptions
            else {}
        )
        app.state.source_reports = {}
        source_check = check_at_startup(catalog, sources, settings, app.state.source_reports)
        events = await start_events(app, settings, catalog)
        app.state.events = events
        app.state.hub = events.hub if events else None
        try:
            yield
        finally:
            if events is not None:
                await events.close()
            source_check.cancel()
            await asyncio.gather(source_check, return_exceptions=True)
            await app.state.questions.close()
            await listener.stop()
            await audit_writer.close()
            await cache.backend.close()
            await buckets.close()
            await asyncio.gather(audit_store.close(), *(source.close() for source in sources.values()))
            multiprocess.process_gone(os.getpid())
            if traces is not None:
                _stop_tracing(traces)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        body, status = await readiness(
            catalog, state.sources, state.source_reports, state.audit_store, settings
        )
        if state.hub is not None:
            body["subscriptions"] = {
                "status": "ok" if state.hub.started.is_set() else "starting",
                "live": len(state.hub.live),
            }
        return JSONResponse(body, status_code=status)

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_websocket),
            Route("/graphql/stream", graphql_stream, methods=["GET", "POST"]),
            Route("/subscriptions", subscriptions_endpoint, methods=["GET", "POST"]),
            Route("/subscriptions/{identifier}", subscriptions_endpoint, methods=["DELETE"]),
            Route("/changes/{department}", changes_endpoint, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/catalog", catalog_page, methods=["GET", "POST"]),
            Route("/usage", usage_page, methods=["GET", "POST"]),
            *(
                [Route("/metrics", metrics_endpoint(registry, settings.metrics_token))]
                if settings.metrics
                else []
            ),
            *(
                [Mount(ASSET_PATH, StaticFiles(directory=STATIC), name="graphiql-assets")]
                if settings.graphiql_enabled
                else []
            ),
        ],
        middleware=[
            Middleware(ObservationMiddleware, metrics=metrics.requests),
            *_middleware(settings, buckets, persisted, policy, catalog, verifier),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limit_buckets = buckets
    app.state.persisted = persisted
    app.state.metrics = metrics
    app.state.cache_metrics = metrics.cache
    app.state.catalog = catalog
    app.state.policy = policy
    app.state.authorizer = authorizer
    app.state.schema = schema
    app.state.limits = limits
    app.state.requirements = requirements
    app.state.settle_heap = False
    app.state.graphql = graphql
    app.state.parse_subscription = parser(app)
    app.state.authentication = AuthenticationMiddleware(
        None,  # type: ignore[arg-type]
        verifier=verifier,
        purposes=policy.purposes,
        departments=consumer_departments(catalog, policy),
    )
    app.state.hub = None
    app.state.change_receivers = {}
    app.state.outbox = None
    return app


def create_served_app() -> Starlette:
    """The app ``govgraph serve`` runs in each worker: the process is govgraph's own, so once started it
    settles its heap for a long life (``govgraph.http.collector``)."""
    app = create_app()
    app.state.settle_heap = True
    return app


def _extensions(settings: Settings, limits: Limits) -> list[Any]:
    """The schema extension chain before execution: text limits first, so nothing runs for a refused text.

    Limits on the operation itself and the authorization plan are the executor's (``operation/``).
    """
    return [
        text_limits_extension(limits, settings.document_cache_size),
        lambda: ParserCache(maxsize=settings.document_cache_size),
        validation_extension(
            settings.document_cache_size, hide_suggestions=settings.environment == "production"
        ),
        AuditExtension,
        *([] if settings.introspection_enabled else [DisableIntrospection]),
    ]


def _start_tracing(settings: Settings) -> Any:
    """The tracer provider, when ``GOVGRAPH_OTEL_ENDPOINT`` is set; else ``None``, and the SDK is never imported."""
    if settings.otel_endpoint is None:
        return None
    from govgraph.tracing.setup import start

    return start(settings.otel_endpoint)


def _stop_tracing(provider: Any) -> None:
    from govgraph.tracing.setup import stop

    stop(provider)


def _persisted_documents(settings: Settings) -> PersistedDocuments | None:
    if not settings.persisted_queries and settings.trusted_documents is None:
        return None
    trusted = load_manifest(settings.trusted_documents) if settings.trusted_documents else None
    return PersistedDocuments(
        trusted,
        trusted_only=settings.trusted_documents_only,
        max_bytes=settings.persisted_queries_max_bytes,
    )


def _question_window(settings: Settings) -> QuestionWindow:
    if settings.rate_limit_url:
        return RedisQuestions(
            settings.rate_limit_url,
            settings.verify_window,
            settings.max_verify_questions_per_window,
            pool_size=settings.redis_pool_size,
            timeout=settings.redis_timeout,
        )
    return MemoryQuestions(settings.verify_window, settings.max_verify_questions_per_window)


def _buckets(settings: Settings) -> Buckets:
    if not settings.rate_limit_url:
        return MemoryBuckets()
    shared = RedisBuckets(
        settings.rate_limit_url, pool_size=settings.redis_pool_size, timeout=settings.redis_timeout
    )
    return FallbackBuckets(shared, fail_closed=settings.rate_limit_fail_closed)


def _middleware(
    settings: Settings,
    buckets: Buckets,
    persisted: PersistedDocuments | None,
    policy: Policy,
    catalog: Catalog,
    verifier: TokenVerifier,
) -> list[Middleware]:
    """Outermost first: the access line, the client address, CORS (when configured), the HTTP guard,
    authentication, rate limits, admission (the bounded queue)."""
    router_credential = settings.router_credential.get_secret_value() if settings.router_credential else None
    middleware = [
        Middleware(AccessLogMiddleware),
        Middleware(ClientAddressMiddleware, trusted=settings.trusted_proxies),
        Middleware(
            GraphQLHTTPGuard,
            max_body_bytes=settings.max_body_bytes,
            csrf_prevention=settings.csrf_prevention,
            persisted=persisted,
        ),
        Middleware(
            AuthenticationMiddleware,
            verifier=verifier,
            purposes=policy.purposes,
            departments=consumer_departments(catalog, policy),
            router_credential=router_credential,
        ),
        Middleware(
            RateLimitMiddleware,
            buckets=buckets,
            per_subject=Rate(settings.rate_limit_per_subject),
            per_department=Rate(settings.rate_limit_per_department),
            anonymous=Rate(settings.rate_limit_anonymous),
        ),
        Middleware(
            AdmissionMiddleware,
            max_concurrent=settings.max_concurrent_requests,
            max_queued=settings.max_queued_requests,
            queue_timeout=settings.queue_timeout,
        ),
    ]
    if settings.router_signature_key is not None:
        signature = Middleware(
            RouterSignatureMiddleware,
            key=settings.router_signature_key.get_secret_value().encode(),
            key_id=settings.router_signature_key_id,
            max_age=settings.router_signature_max_age,
            max_body_bytes=settings.max_body_bytes,
        )
        middleware.insert(3, signature)  # after the guard has bounded the body, before the token is read
    if settings.cors_allow_origins:
        allowed_headers = [
            "Authorization",
            "Content-Type",
            "X-Purpose",
            "Cache-Control",
            "X-Router-Credential",
            "Signature",
            "Signature-Input",
            "Content-Digest",
            *PREFLIGHT_HEADERS,
        ]
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=["GET", "POST"],
            allow_headers=allowed_headers,
        )
        middleware.insert(2, cors)
    return middleware


def _prepare_sqlite_directory(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :].split("?")[0]).parent.mkdir(parents=True, exist_ok=True)


def consumer_departments(catalog: Catalog, policy: Policy) -> list[str]:
    """Every department a principal may come from: the providers and the roles' own."""
    named = [*catalog.departments, *(role.department for role in policy.roles.values())]
    return sorted({department for department in named if department})


def build_sources(
    catalog: Catalog,
    settings: Settings,
    engines: Engines | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    metrics: Metrics | None = None,
) -> dict[str, Source]:
    """One source per department, each behind its own circuit breaker: SQL (departments in one database
    share its connection pool), a JSON API or a GraphQL subgraph (a service's secret read from ``environ``,
    else ``os.environ``)."""
    engines = engines or Engines(settings.pool_size, settings.connect_timeout)
    environment = os.environ if environ is None else environ
    sources: dict[str, Source] = {}
    for department in catalog.departments.values():
        spec = department.source
        source: Source
        if isinstance(spec, HttpSourceSpec | GraphQLSourceSpec):
            secret = None
            if spec.auth is not None:
                secret = environment.get(spec.auth.secret_env)
                if not secret:
                    raise CatalogError(
                        department.file, "source.auth.secret_env", f"{spec.auth.secret_env} is not set"
                    )
            service = HttpSource if isinstance(spec, HttpSourceSpec) else GraphQLSource
            source = service(department.id, spec, department.tables, secret=secret)  # type: ignore[arg-type]
        else:
            source = SqlSource(
                department.id,
                spec.url,
                department.tables,
                db_schema=spec.db_schema,
                timeout=spec.timeout,
                max_concurrency=spec.max_concurrency,
                engines=engines,
            )
        observer = (
            metrics.sources.observer(department.id, lambda source=source: int(getattr(source, "queries", 0)))
            if metrics is not None
            else None
        )
        sources[department.id] = BreakerSource(
            source,
            CircuitBreaker(department.id, settings.breaker_failures, settings.breaker_cool_down),
            observer,
        )
    return sources


async def _open_audit(store: AuditStore) -> None:
    """A store that is there but wrong (a database that does not exist and cannot be created) is logged and
    left to /readyz, which reports it until it is fixed, as a store that is down is."""
    try:
        await store.open()
    except AuditStoreError as error:
        logger.error("%s", error)
