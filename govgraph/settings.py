"""All of govgraph's configuration, in one pydantic-settings object.

Every setting can be given as a ``GOVGRAPH_*`` environment variable, e.g.
``GOVGRAPH_CATALOG=/etc/govgraph/catalog`` or ``GOVGRAPH_ENVIRONMENT=production``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CATALOG = Path(__file__).parent / "demo" / "catalog"
AUDIT_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def audit_url_problem(name: str, url: str) -> None:
    """Refuse an audit store URL govgraph cannot open, saying how to write it (never echoing it: it may
    hold a password)."""
    if url.startswith(AUDIT_SCHEMES):
        return
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ValueError(
            f"{name} must use the asyncpg driver: write postgresql+asyncpg://... instead of {scheme}://..."
        )
    if scheme == "sqlite":
        raise ValueError(f"{name} must use the aiosqlite driver: write sqlite+aiosqlite:///path/audit.db")
    if scheme is None:
        raise ValueError(f"{name} must be a database URL, not a file path: write sqlite+aiosqlite:///{url}")
    raise ValueError(
        f"{name} must be a database URL: sqlite+aiosqlite:///var/audit.db or "
        "postgresql+asyncpg://user@host:5432/govgraph_audit"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVGRAPH_", frozen=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    catalog: Path = DEMO_CATALOG
    """The catalog directory: entities.yaml, departments/*.yaml and policy.yaml."""
    policy: Path | None = None
    """The policy file; default: policy.yaml in the catalog directory."""
    graphiql: bool | None = None
    """Serve GraphiQL to browsers on GET /graphql; default: on in development, off in production."""
    introspection: bool | None = None
    """Allow introspection; default: on in development, off in production (``_service`` stays for routers)."""
    max_body_bytes: int = 256 * 1024
    """Larger request bodies get HTTP 413."""
    csrf_prevention: bool = True
    """Refuse simple-content-type POSTs and GET operations without a preflight header, as Apollo does."""
    cors_allow_origins: tuple[str, ...] = ()
    """Origins allowed to call from browsers (JSON list); none by default."""
    rate_limit_per_subject: float = 600
    """Requests a minute one subject may make (a bucket of a minute's allowance, refilling continuously)."""
    rate_limit_per_department: float = 6000
    """Requests a minute all of one department's principals may make together."""
    rate_limit_anonymous: float = 120
    """Requests a minute one client address may make without a token."""
    rate_limit_url: str | None = None
    """``redis://...`` to share rate-limit buckets between processes; unset: per process."""
    rate_limit_fail_closed: bool = False
    """When the shared buckets cannot be reached: false, count per process (logged); true, refuse with 503."""
    redis_pool_size: int = 32
    """Connections each process keeps to each Redis use (cache, rate limits, question budget)."""
    redis_timeout: float = 2.0
    """Seconds to wait for a Redis connection or answer; past it, govgraph falls back (see docs/operations.md)."""
    max_concurrent_requests: int = 64
    """GraphQL requests one process runs at once; more wait in a queue."""
    max_queued_requests: int = 512
    """Requests one process lets wait; beyond, 503 with Retry-After at once."""
    queue_timeout: float = 5.0
    """Seconds a request may wait in the queue before it is answered 503 with Retry-After."""
    persisted_queries: bool = True
    """Apollo automatic persisted queries (sha256 hashes)."""
    persisted_queries_max_bytes: int = 8 * 1024 * 1024
    """Bound on the documents APQ keeps per process; the least recently used go first."""
    trusted_documents: Path | None = None
    """A manifest of documents registered ahead of time (hash → document, or Apollo's manifest)."""
    trusted_documents_only: bool = False
    """Run only the trusted documents: portals ship fixed operations."""
    document_cache_size: int = 1000
    """Parsed and validated documents kept per process (validation does not depend on the caller)."""
    compiled_plans: bool = True
    """Run covered operations as compiled plans; off, everything runs through graphql-core (the reference)."""
    plan_cache_size: int = 1000
    """Prepared operations (limits, authorization plan, compiled plan) kept per process, per operation and
    decision set."""
    request_timeout: float = 10.0
    """Seconds a request may spend on departments in all; past it, remaining fetches fail fast."""
    breaker_failures: int = 5
    """Failures in a row that open a department's circuit breaker."""
    breaker_cool_down: float = 30.0
    """Seconds an open circuit fails fast before one probe call is let through."""
    max_depth: int = 8
    """Deepest nesting of fields an operation may have (introspection not counted)."""
    max_aliases: int = 15
    max_tokens: int = 1000
    max_document_bytes: int = 20_000
    max_keys: int = 1000
    """Keys in one persons/enterprises/... lookup."""
    max_cost: int = 50_000
    """Estimated cost budget: every field counts once per object it is asked for, lists by their size."""
    list_estimate: int = 3
    """Items a list is assumed to hold when the query does not say (persons' properties, a household's members)."""
    readiness_timeout: float = 3.0
    """Seconds /readyz waits for each department."""
    pool_size: int = 8
    """Connections each server process keeps to one department database; departments in one database share
    them (see the connection budget in docs/operations.md)."""
    connect_timeout: float = 5.0
    """Seconds to establish a database connection (departments and audit store)."""

    jwt_secret: SecretStr | None = None
    """HS256 secret (development only). Unset in development: the demo secret, which `govgraph token` uses."""
    jwt_algorithms: tuple[str, ...] | None = None
    """Accepted algorithms; default HS256 in development, RS256 and ES256 in production."""
    jwt_public_key_file: Path | None = None
    """PEM public key for RS256/ES256."""
    jwt_jwks_url: str | None = None
    """JWKS URL for RS256/ES256 keys, fetched and cached."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    audit_url: str = "sqlite+aiosqlite:///var/audit.db"
    """The audit store: SQLite by default, ``postgresql+asyncpg://...`` for several processes."""
    audit_spool: Path = Path("var/audit-spool.jsonl")
    """The local audit journal: records of released responses that the store could not take in time,
    fsync'd before release and replayed into the store when it answers (shared safely by processes)."""
    audit_timeout: float = 5.0
    """Seconds a response waits for its audit record's commit; past it, protected values are withheld."""
    audit_pool_size: int = 4
    """Connections each server process keeps to a PostgreSQL audit store."""

    cache_url: str | None = None
    """Unset: an in-process memory cache. ``redis://host:6379/0``: shared by every process."""
    cache_max_entries: int = 200_000
    """Bound on the memory cache's entries (one per department row group or lookup)."""
    cache_min_max_age: float = 60.0
    """A client's ``Cache-Control`` below this many seconds needs a role with ``cache_bypass``."""
    cache_listen: bool = False
    """LISTEN on ``govgraph_invalidate`` in PostgreSQL departments and drop entries at once."""

    max_verify_questions: int = 3
    """Different yes/no questions a verify-only role may ask about one field in one operation."""
    verify_window: float = 86_400.0
    """Seconds over which a principal's different yes/no questions about one record's field are counted."""
    max_verify_questions_per_window: int = 3
    """Different yes/no questions one principal may ask about one field of one record per window."""

    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (JSON list, e.g. ["10.0.0.5", "10.1.0.0/16"]) of reverse proxies whose
    X-Forwarded-For is believed; empty: the peer address is the client address."""
    router_credential: SecretStr | None = None
    """A secret a federation router sends as ``X-Router-Credential`` to read ``_service { sdl }`` in
    production without a user token."""

    router_signature_key: SecretStr | None = None
    """A key shared with the router: every GraphQL request must then carry its RFC 9421 signature
    (hmac-sha256), so a process that reaches govgraph directly cannot claim a principal."""
    router_signature_key_id: str = "router"
    router_signature_max_age: float = 300.0
    """Seconds a signature stays good after its ``created`` time."""

    federation_access_directives: bool = True
    """The SDL carries ``@authenticated`` and ``@requiresScopes`` for a router to enforce as well; off for a
    router that refuses supergraphs with security features it cannot enforce (``@apollo/gateway``)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """govgraph's and uvicorn's log level; ``info`` includes one access line a request."""
    log_format: Literal["json", "text"] = "json"
    """JSON Lines on standard error, for a collector; ``text`` for reading in a terminal."""

    metrics: bool = True
    """Serve Prometheus metrics on ``/metrics``; false: 404."""
    metrics_token: SecretStr | None = None
    """When set, ``/metrics`` needs ``Authorization: Bearer <this token>``; else 401."""
    otel_endpoint: str | None = None
    """An OTLP/HTTP collector (``http://collector:4318``) to send traces to; unset: no tracing at all."""

    subscriptions: bool = True
    """Change subscriptions (WebSocket, SSE, webhooks) over the catalog's subscribable fields."""
    events_url: str | None = None
    """``redis://...``: fan changes out to every process through a Redis stream; unset: each process reads
    the departments' change tables itself."""
    events_poll_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between reads of a department's change table (PostgreSQL departments also NOTIFY)."""
    websocket_init_timeout: float = Field(default=10.0, gt=0)
    """Seconds a WebSocket has to send ``connection_init``."""
    webhook_timeout: float = Field(default=10.0, gt=0)
    """Seconds a webhook receiver has to answer one delivery."""
    webhook_lease: float = Field(default=30.0, gt=0)
    """Seconds a process holds a delivery it is sending; after a crash another takes it over then."""
    webhook_max_attempts: int = Field(default=20, ge=1)
    """Attempts before a delivery is marked failed (it can still be replayed)."""
    webhook_backoff: tuple[float, ...] = (1, 2, 5, 15, 60, 300, 900, 3600)
    """Seconds before each retry; the last repeats."""

    authorization: bool = True
    """Field-level authorization. Only benchmarks switch it off; production refuses to."""

    @model_validator(mode="after")
    def _jwks_over_https(self) -> Settings:
        url = self.jwt_jwks_url
        loopback = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")
        if url is not None and not (url.startswith("https://") or url.startswith(loopback)):
            raise ValueError(
                "GOVGRAPH_JWT_JWKS_URL must be https:// (plain http only on the loopback address)"
            )
        return self

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment != "production":
            return self
        if not self.authorization:
            raise ValueError("GOVGRAPH_AUTHORIZATION cannot be false in production")
        if self.jwt_public_key_file is None and self.jwt_jwks_url is None:
            raise ValueError("production needs GOVGRAPH_JWT_PUBLIC_KEY_FILE or GOVGRAPH_JWT_JWKS_URL")
        if self.jwt_issuer is None or self.jwt_audience is None:
            raise ValueError("production needs GOVGRAPH_JWT_ISSUER and GOVGRAPH_JWT_AUDIENCE")
        if any(algorithm.startswith("HS") for algorithm in self.jwt_algorithms or ()):
            raise ValueError("production accepts only asymmetric algorithms (RS256, ES256)")
        return self

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.environment == "development"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else self.environment == "development"

    @model_validator(mode="after")
    def _trusted_proxies_are_addresses(self) -> Settings:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"GOVGRAPH_TRUSTED_PROXIES: {entry!r} is not an IP address or network such as 10.0.0.0/8"
                ) from None
        return self

    @model_validator(mode="after")
    def _trusted_only_needs_documents(self) -> Settings:
        if self.trusted_documents_only and self.trusted_documents is None:
            raise ValueError("GOVGRAPH_TRUSTED_DOCUMENTS_ONLY needs GOVGRAPH_TRUSTED_DOCUMENTS")
        return self

    @model_validator(mode="after")
    def _urls_name_their_drivers(self) -> Settings:
        audit_url_problem("GOVGRAPH_AUDIT_URL", self.audit_url)
        for name, url in (
            ("GOVGRAPH_CACHE_URL", self.cache_url),
            ("GOVGRAPH_RATE_LIMIT_URL", self.rate_limit_url),
            ("GOVGRAPH_EVENTS_URL", self.events_url),
        ):
            if url is not None and not url.startswith(REDIS_SCHEMES):
                raise ValueError(f"{name} must be a Redis URL such as redis://127.0.0.1:6379/0")
        return self

    @property
    def policy_path(self) -> Path:
        return self.policy or self.catalog / "policy.yaml"
