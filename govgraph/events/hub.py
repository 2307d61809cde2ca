"""The process's side of change subscriptions: its live subscribers, and the webhook outbox.

The change bus hands every change to ``broadcast`` (each live WebSocket or
SSE subscriber in this process whose watched fields it touched gets it
queued) and, once across the processes, to ``enqueue`` (the deliveries owed
to webhook registrations are committed to the outbox with the department's
cursor). Events are rendered per subscriber, as that subscriber, when they
are delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from govgraph.auth.principal import Principal
from govgraph.errors import GovgraphError
from govgraph.events.change import Change
from govgraph.events.delivery import DeliveryDeferred
from govgraph.events.registration import Registration
from govgraph.events.subscription import Subscription, SubscriptionRefused

logger = logging.getLogger("govgraph.events")

Render = Callable[[Subscription, Change, str], Awaitable[dict[str, Any] | None]]
Parse = Callable[[Principal, str, dict[str, Any] | None, str | None], Subscription]

QUEUE_SIZE = 1000
"""Changes waiting for one live subscriber; a subscriber that falls further behind is ended, not fed forever."""
RENDER_AHEAD = 32
"""Changes waiting for one live subscriber that are resolved at once."""
DEFERRED_ATTEMPTS = 5
"""Tries to deliver a change to a live subscriber while the audit store cannot record it."""


class SubscriberTooSlow(GovgraphError):
    code = "SUBSCRIBER_TOO_SLOW"

    def __init__(self) -> None:
        super().__init__(f"more than {QUEUE_SIZE} changes waited for this subscriber; subscribe again")


@dataclass(eq=False)
class LiveSubscriber:
    subscription: Subscription
    after: dict[str, int]
    """Department → the last change before it subscribed: it never gets history."""
    id: str = field(default_factory=lambda: f"live_{uuid.uuid4().hex[:24]}")
    queue: asyncio.Queue[Change | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


class Hub:
    def __init__(
        self, render: Render, parse: Parse, outbox: Any = None, on_enqueued: Callable[[], None] = lambda: None
    ) -> None:
        self.render = render
        self.parse = parse
        self.outbox = outbox
        self.on_enqueued = on_enqueued
        self.bus: Any = None
        self.live: set[LiveSubscriber] = set()
        self._parsed: dict[tuple[str, str, str], Subscription] = {}
        self.started = asyncio.Event()
        """Set once the bus knows where each department stands: a subscriber then starts after that."""

    async def start(self, bus: Any) -> None:
        self.bus = bus
        await bus.start(self.broadcast, self.enqueue)
        self.started.set()

    async def close(self) -> None:
        for subscriber in list(self.live):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(None)
        if self.bus is not None:
            await self.bus.aclose()

    async def broadcast(self, change: Change) -> None:
        for subscriber in list(self.live):
            if change.id <= subscriber.after.get(change.department, 0):
                continue
            if not subscriber.subscription.changed(change):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    async def enqueue(self, change: Change) -> None:
        """Commit the deliveries this change owes to webhook registrations (and the department's cursor)."""
        if self.outbox is None:
            return
        owed: dict[str, tuple[str, ...]] = {}
        for registration in await self.outbox.registrations():
            subscription = self.registered(registration)
            if subscription is None:
                continue
            changed = subscription.changed(change)
            if changed:
                owed[registration.id] = changed
        await self.outbox.enqueue(change.department, change.id, change.entity, change.key, owed, change.at)
        if owed:
            self.on_enqueued()

    def registered(self, registration: Registration) -> Subscription | None:
        """The registration's subscription, decided under today's policy (``None`` if it no longer may)."""
        memo = (registration.id, registration.document, registration.purpose)
        subscription = self._parsed.get(memo)
        if subscription is None:
            try:
                subscription = self.parse(
                    registration_principal(registration),
                    registration.document,
                    registration.variables,
                    registration.operation_name,
                )
            except (SubscriptionRefused, GovgraphError) as error:
                logger.warning("subscription %s is no longer deliverable: %s", registration.id, error.message)
                return None
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[memo] = subscription
        return subscription

    async def stream(self, subscription: Subscription) -> AsyncIterator[dict[str, Any]]:
        """Events for one live subscriber, from now until the caller stops iterating."""
        await self.started.wait()
        departments = subscription.departments
        after = {department: self.bus.head(department) if self.bus else 0 for department in departments}
        subscriber = LiveSubscriber(subscription, after)
        self.live.add(subscriber)
        try:
            while True:
                if subscriber.overflowed:
                    raise SubscriberTooSlow()
                batch = [await subscriber.queue.get()]
                while len(batch) < RENDER_AHEAD and not subscriber.queue.empty():
                    batch.append(subscriber.queue.get_nowait())
                changes = [change for change in batch if change is not None]
                # Rendered together, so that their audit records share commits; sent in change order.
                payloads = await asyncio.gather(
                    *(self._render_live(subscriber, change) for change in changes)
                )
                for payload in payloads:
                    if payload is not None:
                        yield payload
                if len(changes) < len(batch):
                    return
        finally:
            self.live.discard(subscriber)

    async def _render_live(self, subscriber: LiveSubscriber, change: Change) -> dict[str, Any] | None:
        for attempt in range(DEFERRED_ATTEMPTS):
            try:
                return await self.render(subscriber.subscription, change, subscriber.id)
            except DeliveryDeferred:
                await asyncio.sleep(min(2**attempt * 0.2, 5.0))
        # Nothing of the change may leave unrecorded: the subscriber learns only that one was withheld.
        return {
            "data": None,
            "errors": [
                {
                    "message": "a change could not be delivered: the audit store cannot record its delivery",
                    "extensions": {"code": "AUDIT_UNAVAILABLE"},
                }
            ],
        }


def registration_principal(registration: Registration) -> Principal:
    return Principal(
        subject=registration.subject,
        department=registration.department,
        roles=registration.roles,
        purpose=registration.purpose,
        authenticated=True,
    )
