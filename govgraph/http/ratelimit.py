"""Rate limits: a token bucket per subject and per department, in memory or shared in Redis.

Each request takes one token from its subject's bucket (anonymous callers:
their client address) and one from its department's. A bucket holds up
to a minute's allowance and refills continuously. Over the limit: HTTP 429
with ``Retry-After``. With ``GOVGRAPH_RATE_LIMIT_URL=redis://...`` every
process draws from the same buckets (an atomic Lua script).

When Redis fails, ``FallbackBuckets`` draws from per-process buckets and
says so in the log, until Redis answers again; with
``GOVGRAPH_RATE_LIMIT_FAIL_CLOSED=true`` it refuses instead, with ``503``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.http.responses import send_error
from govgraph.redis_connections import REDIS_ERRORS, RedisHealth, redis_client


@dataclass(frozen=True, slots=True)
class Rate:
    per_minute: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60

    @property
    def capacity(self) -> float:
        return self.per_minute


class Buckets(Protocol):
    async def take(self, key: str, rate: Rate) -> float:
        """Take one token; 0 when granted, else the seconds until one is available."""

    async def close(self) -> None: ...


class MemoryBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str, rate: Rate) -> float:
        now = self.clock()
        tokens, updated = self._buckets.get(key, (rate.capacity, now))
        tokens = min(rate.capacity, tokens + (now - updated) * rate.per_second)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / rate.per_second

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    async def close(self) -> None:
        self._buckets.clear()


TAKE_SCRIPT = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local rate, capacity, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'updated', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    def __init__(
        self, url: str, clock: Callable[[], float] = time.time, *, pool_size: int = 32, timeout: float = 2.0
    ) -> None:
        self.clock = clock
        self._client = redis_client(url, pool_size=pool_size, timeout=timeout)
        self._take = self._client.register_script(TAKE_SCRIPT)

    async def take(self, key: str, rate: Rate) -> float:
        wait = await self._take(keys=[f"gg:rate:{key}"], args=[rate.per_second, rate.capacity, self.clock()])
        return float(wait)

    async def close(self) -> None:
        await self._client.aclose()


class BucketsUnavailable(Exception):
    """The shared buckets cannot be reached and the limiter is set to fail closed."""


class FallbackBuckets:
    """Shared buckets while Redis answers; per-process ones (or a refusal) while it does not."""

    def __init__(self, shared: Buckets, *, fail_closed: bool = False, retry_after: float = 5.0) -> None:
        self.shared = shared
        self.local = MemoryBuckets()
        self.fail_closed = fail_closed
        self.health = RedisHealth("rate limits", retry_after)

    async def take(self, key: str, rate: Rate) -> float:
        if self.health.usable:
            try:
                wait = await self.shared.take(key, rate)
            except REDIS_ERRORS as error:
                self.health.failed(error)
            else:
                self.health.succeeded()
                return wait
        if self.fail_closed:
            raise BucketsUnavailable()
        return await self.local.take(key, rate)

    async def close(self) -> None:
        await self.shared.close()
        await self.local.close()


class RateLimitMiddleware:
    """After authentication: the principal is known, so buckets are per subject and department."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: Buckets,
        per_subject: Rate,
        per_department: Rate,
        anonymous: Rate,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.per_subject = per_subject
        self.per_department = per_department
        self.anonymous = anonymous
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        principal: Principal = scope.get("state", {}).get("principal", ANONYMOUS)
        try:
            wait = await self._wait(scope, principal)
        except BucketsUnavailable:
            await send_error(
                scope,
                send,
                503,
                "RATE_LIMIT_UNAVAILABLE",
                "rate limits cannot be checked now; retry shortly",
                headers={"Retry-After": "5"},
            )
            return
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            await send_error(
                scope,
                send,
                429,
                "RATE_LIMITED",
                f"too many requests; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
            return
        await self.app(scope, receive, send)

    async def _wait(self, scope: Scope, principal: Principal) -> float:
        if principal.authenticated:
            waits = [await self.buckets.take(f"subject:{principal.subject}", self.per_subject)]
            if principal.department:
                waits.append(
                    await self.buckets.take(f"department:{principal.department}", self.per_department)
                )
        else:
            client = scope.get("client")
            waits = [await self.buckets.take(f"address:{client[0] if client else 'unknown'}", self.anonymous)]
        return max(waits)
