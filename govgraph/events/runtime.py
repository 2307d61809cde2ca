"""Start and stop change subscriptions in one server process.

Wires the parts together: the subscription parser (``subscription.py``),
the change bus over the departments' change tables (local, or through a
Redis stream when ``GOVGRAPH_EVENTS_URL`` is set), the hub of live
subscribers, and the webhook outbox and its dispatcher in govgraph's own
store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from govgraph.auth.principal import Principal
from govgraph.catalog.model import Catalog
from govgraph.catalog.specs import SqlSourceSpec
from govgraph.diagnostics import describe
from govgraph.events.bus import CatalogFeeds, LocalChangeBus
from govgraph.events.change import Change
from govgraph.events.delivery import DeliveryDeferred, render_event
from govgraph.events.dispatcher import Dispatcher, RetryLater
from govgraph.events.feed import PolledFeed
from govgraph.events.hub import Hub
from govgraph.events.inbox import Inbox
from govgraph.events.outbox import Outbox
from govgraph.events.registration import PendingDelivery, Registration
from govgraph.events.streams import RedisChangeBus
from govgraph.events.subscription import Subscription, subscribe
from govgraph.settings import Settings

logger = logging.getLogger("govgraph.events")


@dataclass
class Events:
    hub: Hub
    outbox: Outbox
    dispatcher: Dispatcher
    close_feeds: Callable[[], Awaitable[None]]
    starting: asyncio.Task[None]

    async def close(self) -> None:
        self.starting.cancel()
        await asyncio.gather(self.starting, return_exceptions=True)
        await self.hub.close()
        await self.close_feeds()
        await self.dispatcher.aclose()
        await self.outbox.close()


def parser(app: Any) -> Any:
    """``parse(principal, document, variables, operation_name) -> Subscription`` for this app."""
    state = app.state

    def parse(principal: Principal, document: Any, variables: Any, operation_name: Any) -> Subscription:
        return subscribe(
            state.schema._schema,
            state.catalog,
            state.policy,
            state.authorizer,
            principal,
            document,
            variables,
            operation_name if isinstance(operation_name, str) else None,
        )

    return parse


def watched_departments(catalog: Catalog) -> list[str]:
    """Departments with a subscribable field: SQL ones with a change table, the others reporting to the inbox
    (the catalog refuses a subscribable field of a service that does not)."""
    return sorted({catalog_field.department for catalog_field in catalog.subscribable()})


class DepartmentFeeds:
    """``feeds`` and ``latest`` for the bus: a SQL department's change table, or the inbox for a department
    behind a service."""

    def __init__(self, catalog: Catalog, departments: list[str], inbox: Inbox, poll_interval: float) -> None:
        self.sql = [d for d in departments if isinstance(catalog.departments[d].source, SqlSourceSpec)]
        self.inbox = inbox
        self.poll_interval = poll_interval
        self.tables = CatalogFeeds(catalog, self.sql, poll_interval=poll_interval)

    def feed(self, department: str, after: int) -> PolledFeed:
        if department in self.sql:
            return self.tables.feed(department, after)
        return self.inbox.feed(department, after, self.poll_interval)

    async def latest(self, department: str) -> int:
        if department in self.sql:
            return await self.tables.latest(department)
        return await self.inbox.latest(department)

    async def aclose(self) -> None:
        """Dispose of the change tables' engines, once the bus is closed."""
        await self.tables.aclose()


async def start_events(app: Any, settings: Settings, catalog: Catalog) -> Events | None:
    departments = watched_departments(catalog)
    if not settings.subscriptions or not departments:
        return None
    endpoint = app.state.graphql
    outbox = Outbox(settings.audit_url)

    async def render(
        subscription: Subscription, change: Change, subscription_id: str
    ) -> dict[str, Any] | None:
        return await render_event(endpoint, app, subscription, change, subscription_id)

    hub = Hub(render, app.state.parse_subscription, outbox)

    async def resolve(registration: Registration, delivery: PendingDelivery) -> dict[str, Any]:
        return await webhook_body(hub, endpoint, app, registration, delivery)

    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    dispatcher = Dispatcher(
        outbox,
        resolve,
        holder=holder,
        lease_seconds=settings.webhook_lease,
        backoff=settings.webhook_backoff,
        max_attempts=settings.webhook_max_attempts,
        timeout=settings.webhook_timeout,
    )
    hub.on_enqueued = dispatcher.wake
    inbox = Inbox(outbox)
    sources = DepartmentFeeds(catalog, departments, inbox, settings.events_poll_interval)
    feeds, latest, close_feeds = sources.feed, sources.latest, sources.aclose
    if settings.events_url:
        bus: Any = RedisChangeBus(
            settings.events_url, feeds, departments, outbox.cursor, latest, consumer=holder
        )
    else:
        bus = LocalChangeBus(feeds, departments, outbox.cursor, latest)

    async def begin() -> None:
        await outbox.open()
        await dispatcher.start()
        await _fix_cursors(outbox, departments, latest)
        await hub.start(bus)
        app.state.outbox = outbox  # registrations are taken from here on: no change can fall before them
        app.state.inbox = inbox  # and departments' reported changes

    # In the background: a store or department that does not answer must not hold up serving queries.
    starting = asyncio.create_task(begin(), name="govgraph-subscriptions-start")
    return Events(hub, outbox, dispatcher, close_feeds, starting)


async def _fix_cursors(outbox: Outbox, departments: list[str], latest: Any) -> None:
    """On a first start, make "now" durable as each department's starting point. A department or store
    that does not answer is left to the bus, which starts it from its latest change when it does."""
    for department in departments:
        try:
            if await outbox.cursor(department) is None:
                await outbox.begin_at(department, await latest(department))
        except Exception as error:  # start-up goes on; the bus retries the department
            logger.warning("subscriptions: no starting point for %s yet: %s", department, describe(error))


async def webhook_body(
    hub: Hub, endpoint: Any, app: Any, registration: Registration, delivery: PendingDelivery
) -> dict[str, Any]:
    """What a webhook delivery POSTs: the event, resolved now, as the registration's principal."""
    subscription = hub.registered(registration)
    if subscription is None:
        raise RetryLater("the subscription is no longer granted under the current policy")
    change = Change(
        id=delivery.change_id,
        department=delivery.department,
        entity=delivery.entity,
        key=delivery.key,
        columns=(),
        at=delivery.changed_at,
    )
    try:
        payload = await render_event(
            endpoint, app, subscription, change, registration.id, changed=delivery.changed_fields
        )
    except DeliveryDeferred:
        raise RetryLater("the audit store cannot record the delivery") from None
    return {
        "type": "govgraph.change",
        "subscription": registration.id,
        "event": delivery.event_id,
        "timestamp": delivery.changed_at,
        **(payload or {"data": None}),
    }
