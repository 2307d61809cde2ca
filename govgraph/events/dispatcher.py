"""``Dispatcher``: sends the outbox's due deliveries to their webhooks, signed, until each is answered 2xx.

A background task claims due deliveries (``Outbox.claim``), resolves each
one's event body (``resolve``: the authorized, audited query, as the
subscriber, now), and POSTs it as JSON with Standard Webhooks headers. The
``webhook-id`` is the delivery's event id, the same on every attempt, so a
receiver drops a duplicate (a delivery is at least once: one whose answer
was lost is sent again).

A failure (no answer in time, a refused connection, anything but 2xx, or
``RetryLater`` from ``resolve``) is recorded and retried after the next step
of ``backoff`` (the last step repeats), with a little jitter; after
``max_attempts`` the delivery is ``failed`` until replayed. A registration's
deliveries go out one after the other, in change order: its batch stops at
its first failure.

Every wait is bounded: a claim's lease covers the deliveries sent under it
(one that could not finish before its lease ends is given back, not sent),
``resolve`` and the request each get ``timeout``, and the task sleeps between
polls until ``wake()`` or ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from govgraph.errors import AuditStoreError
from govgraph.events import signing
from govgraph.events.outbox import Outbox
from govgraph.events.registration import PendingDelivery, Registration

logger = logging.getLogger("govgraph.events.dispatcher")

Resolve = Callable[[Registration, PendingDelivery], Awaitable[dict[str, Any] | None]]
"""The event body to POST for one delivery; ``None`` when the change owes the subscriber nothing any more
(the delivery is then done, and nothing is sent). Raises ``RetryLater`` when it cannot be said now."""

BACKOFF: tuple[float, ...] = (1, 2, 5, 15, 60, 300, 900, 3600)
JITTER = 0.1
"""Up to this fraction of a retry's delay is added at random, so that retries of many deliveries spread out."""
USER_AGENT = "govgraph"


class RetryLater(Exception):
    """The delivery's body cannot be resolved now (the audit store is down, say): nothing is sent, and the
    attempt counts as failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        resolve: Resolve,
        *,
        client: httpx.AsyncClient | None = None,
        holder: str,
        lease_seconds: float = 30.0,
        batch: int = 20,
        poll_interval: float = 1.0,
        backoff: Sequence[float] = BACKOFF,
        max_attempts: int = 20,
        timeout: float = 10.0,
    ) -> None:
        """``holder`` names this process in the leases it takes (unique per process); ``timeout`` bounds both
        ``resolve`` and the receiver's answer, so the lease must be longer than twice that."""
        if not backoff or any(delay < 0 for delay in backoff):
            raise ValueError("backoff must be one or more delays of zero seconds or more")
        if max_attempts < 1 or batch < 1 or poll_interval <= 0 or timeout <= 0:
            raise ValueError("max_attempts and batch must be positive, poll_interval and timeout above zero")
        if lease_seconds <= 2 * timeout:
            raise ValueError(
                f"the lease ({lease_seconds}s) must be longer than twice the timeout ({timeout}s): a delivery "
                "could otherwise still be going out when another process takes it over"
            )
        self.outbox = outbox
        self.resolve = resolve
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.poll_interval = poll_interval
        self.backoff = tuple(backoff)
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._held: set[int] = set()
        self._soonest: float | None = None
        """Monotonic time of the earliest retry this dispatcher scheduled: the loop wakes for it."""

    async def start(self) -> None:
        if self._task is not None:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=httpx.Limits(max_connections=self.batch)
            )
        self._task = asyncio.create_task(self._run(), name="govgraph-webhook-dispatcher")

    def wake(self) -> None:
        """Deliveries were enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def aclose(self) -> None:
        """Stop, giving back the leases of deliveries not finished (they go out again, from any process)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._held:
            try:
                await asyncio.wait_for(self.outbox.release(list(self._held), self.holder), self.timeout)
            except (AuditStoreError, TimeoutError) as error:
                logger.warning("webhook leases not given back (they expire by themselves): %s", error)
            self._held.clear()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            claimed = 0
            try:
                claimed = await self.deliver_due()
            except AuditStoreError as error:
                logger.error("webhook deliveries cannot be claimed: %s", error.problem)
            except Exception:  # a fault of ours must not end deliveries for the process's lifetime
                logger.exception("webhook delivery round failed")
            if claimed >= self.batch:
                continue  # more may be due already
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep())

    def _sleep(self) -> float:
        if self._soonest is None:
            return self.poll_interval
        delay = self._soonest - time.monotonic()
        self._soonest = None
        return max(0.0, min(self.poll_interval, delay))

    async def deliver_due(self) -> int:
        """One round: claim what is due and send it; how many deliveries were claimed."""
        claimed_at = time.monotonic()
        deliveries = await self.outbox.claim(self.holder, self.batch, self.lease_seconds)
        if not deliveries:
            return 0
        self._held.update(delivery.id for delivery in deliveries)
        by_registration: dict[str, list[PendingDelivery]] = {}
        for delivery in deliveries:
            by_registration.setdefault(delivery.registration_id, []).append(delivery)
        async with asyncio.TaskGroup() as group:
            for registration_id, run in by_registration.items():
                group.create_task(self._deliver_run(registration_id, run, claimed_at))
        return len(deliveries)

    async def _deliver_run(self, registration_id: str, run: list[PendingDelivery], claimed_at: float) -> None:
        """One registration's claimed deliveries, in order, until one fails; the rest are given back."""
        unsent = list(run)
        try:
            registration = await self.outbox.get(registration_id)
            while unsent and registration is not None and registration.state == "active":
                # Resolving and sending each take up to ``timeout``: start only what ends within the lease.
                if time.monotonic() + 2 * self.timeout >= claimed_at + self.lease_seconds:
                    break
                delivery = unsent[0]
                done = await self._deliver(registration, delivery)
                unsent.pop(0)
                self._held.discard(delivery.id)
                if not done:
                    break
        except AuditStoreError as error:
            logger.error("webhook deliveries of %s stopped: %s", registration_id, error.problem)
        if unsent:
            ids = [delivery.id for delivery in unsent]
            with contextlib.suppress(AuditStoreError):  # if not given back, their leases expire
                await self.outbox.release(ids, self.holder)
            self._held.difference_update(ids)

    async def _deliver(self, registration: Registration, delivery: PendingDelivery) -> bool:
        """One attempt; whether the delivery is done."""
        try:
            body = await asyncio.wait_for(self.resolve(registration, delivery), self.timeout)
        except RetryLater as later:
            return await self._failed(registration, delivery, None, f"not resolved: {later.reason}")
        except TimeoutError:
            return await self._failed(registration, delivery, None, f"not resolved within {self.timeout}s")
        except Exception as error:  # a fault of resolve's: the delivery waits, the dispatcher goes on
            logger.debug("resolving %s failed", delivery.event_id, exc_info=True)
            return await self._failed(registration, delivery, None, f"not resolved: {type(error).__name__}")
        if body is None:
            await self.outbox.delivered(delivery.id, None)
            return True
        try:
            data = orjson.dumps(body)
        except orjson.JSONEncodeError:
            return await self._failed(registration, delivery, None, "the event body is not JSON")
        headers = {
            **signing.headers(registration.secret, delivery.event_id, data),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        assert self._client is not None, "start() makes the client"
        try:
            async with self._client.stream(
                "POST", registration.callback_url, content=data, headers=headers, timeout=self.timeout
            ) as response:
                status = response.status_code  # the receiver's body is never read
        except httpx.TimeoutException:
            return await self._failed(registration, delivery, None, f"no answer within {self.timeout}s")
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return await self._failed(registration, delivery, None, _transport_error(error))
        if 200 <= status < 300:
            await self.outbox.delivered(delivery.id, status)
            return True
        return await self._failed(registration, delivery, status, f"HTTP {status}")

    async def _failed(
        self, registration: Registration, delivery: PendingDelivery, status: int | None, error: str
    ) -> bool:
        attempts = delivery.attempts + 1
        where = callback_location(registration.callback_url)
        if attempts >= self.max_attempts:
            await self.outbox.give_up(delivery.id, status, error, holder=self.holder)
            logger.warning(
                "webhook %s to %s failed (%s) after %d attempts; replay it with "
                "`govgraph subscriptions replay %s --from ...`",
                delivery.event_id,
                where,
                error,
                attempts,
                registration.id,
            )
            return False
        delay = self.backoff[min(attempts, len(self.backoff)) - 1]
        delay += delay * JITTER * random.random()
        due = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay)
        await self.outbox.failed_attempt(delivery.id, status, error, due, holder=self.holder)
        soonest = time.monotonic() + delay
        self._soonest = soonest if self._soonest is None else min(self._soonest, soonest)
        logger.warning(
            "webhook %s to %s failed (%s), attempt %d of %d; next in %.1fs",
            delivery.event_id,
            where,
            error,
            attempts,
            self.max_attempts,
            delay,
        )
        return False


def callback_location(url: str) -> str:
    """The URL as a log line or a listing may show it: scheme, host, port and path; never credentials or a
    query string (which may hold a receiver's token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _transport_error(error: httpx.HTTPError | httpx.InvalidURL) -> str:
    """What went wrong on the way, in words that hold no URL: httpx's own messages may."""
    if isinstance(error, httpx.ConnectError):
        return "connection failed"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the receiver broke the HTTP exchange"
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "the callback URL cannot be requested"
    return f"request failed: {type(error).__name__}"
