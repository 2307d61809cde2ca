"""The PostgreSQL connection budget: what every process will open, per server, before anything starts.

Each server process opens, per PostgreSQL server:

- ``GOVGRAPH_POOL_SIZE`` connections for each department database on it
  (departments in one database share one pool);
- ``GOVGRAPH_AUDIT_POOL_SIZE`` connections if the audit store is on it;
- one connection per department database for cache invalidation, with
  ``GOVGRAPH_CACHE_LISTEN=true``;
- with subscriptions on and subscribable fields in the catalog: the change
  feeds' pool in each database of a watched department (two per watched
  department, plus one), and the webhook outbox's pool on the audit store's
  server.

``govgraph serve`` multiplies that by its workers, prints the total for each
server, and refuses to start when it exceeds what the server admits
(``max_connections`` less ``superuser_reserved_connections``), with a
message that says which settings to lower.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from govgraph.catalog.model import Catalog
from govgraph.events.bus import feed_pool_size
from govgraph.events.outbox import POOL_SIZE as OUTBOX_POOL_SIZE
from govgraph.settings import Settings

DEFAULT_PORT = 5432


@dataclass
class ServerBudget:
    server: str
    """``host:port``."""
    url: str
    """One URL on that server, to ask it its limit."""
    parts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def per_process(self) -> int:
        return sum(count for _, count in self.parts)


def plan(catalog: Catalog, settings: Settings) -> dict[str, ServerBudget]:
    budgets: dict[str, ServerBudget] = {}

    def add(url: str, what: str, count: int) -> None:
        server = _server(url)
        if server is None:
            return
        budgets.setdefault(server, ServerBudget(server, url)).parts.append((what, count))

    databases: dict[str, list[str]] = {}
    for department in catalog.departments.values():
        databases.setdefault(department.source.url, []).append(department.id)
    for url, departments in databases.items():
        add(url, f"departments {', '.join(sorted(departments))}", settings.pool_size)
        if settings.cache_listen:
            add(url, "cache invalidation", 1)
    add(settings.audit_url, "audit store", settings.audit_pool_size)
    watched = {catalog_field.department for catalog_field in catalog.subscribable()}
    if settings.subscriptions and watched:
        for url, departments in databases.items():
            feeding = [department for department in departments if department in watched]
            if feeding:
                add(url, f"change feeds {', '.join(sorted(feeding))}", feed_pool_size(len(feeding)))
        add(settings.audit_url, "webhook outbox", OUTBOX_POOL_SIZE)
    return budgets


def describe(budget: ServerBudget, workers: int, admitted: int | None) -> str:
    detail = " + ".join(f"{count} ({what})" for what, count in budget.parts)
    total = workers * budget.per_process
    limit = f" of {admitted} the server admits" if admitted is not None else " (its limit could not be read)"
    return f"PostgreSQL {budget.server}: {workers} worker(s) × [{detail}] = {total} connections{limit}"


async def admitted(url: str, timeout: float = 5.0) -> int | None:
    """``max_connections`` less the connections reserved for superusers; ``None`` if the server can't be asked."""
    import asyncpg

    try:
        connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        maximum = int(await connection.fetchval("SHOW max_connections"))
        reserved = int(await connection.fetchval("SHOW superuser_reserved_connections"))
        return maximum - reserved
    finally:
        await connection.close()


def check(catalog: Catalog, settings: Settings, workers: int) -> tuple[list[str], list[str]]:
    """(lines to print, problems that stop start-up)."""

    async def ask() -> list[int | None]:
        return list(
            await asyncio.gather(
                *(admitted(budget.url, settings.connect_timeout) for budget in budgets.values())
            )
        )

    budgets = plan(catalog, settings)
    if not budgets:
        return [], []
    limits = asyncio.run(ask())
    lines, problems = [], []
    for budget, limit in zip(budgets.values(), limits, strict=True):
        lines.append(describe(budget, workers, limit))
        if limit is not None and workers * budget.per_process > limit:
            problems.append(
                f"PostgreSQL {budget.server} admits {limit} connections but {workers} worker(s) would open "
                f"{workers * budget.per_process}; lower --workers, GOVGRAPH_POOL_SIZE or GOVGRAPH_AUDIT_POOL_SIZE, "
                "or raise the server's max_connections"
            )
    return lines, problems


def _server(url: str) -> str | None:
    if not url.startswith("postgresql"):
        return None
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or DEFAULT_PORT}"


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]
