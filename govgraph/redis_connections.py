"""Redis, used so that its trouble degrades govgraph instead of failing it.

- ``redis_client``: one bounded pool per use (``GOVGRAPH_REDIS_POOL_SIZE``);
  a command waits for a free connection at most ``GOVGRAPH_REDIS_TIMEOUT``
  seconds, and every socket operation has the same bound, so a hung Redis
  costs a request that long, never more.
- ``RedisHealth``: after a failure, Redis is left alone for ``retry_after``
  seconds, so requests do not pile up on timeouts, then tried again: when
  Redis returns, govgraph heals without a restart.

The row cache, the rate limiter and the yes/no budget each fall back to
something that works without Redis (``cache/backend.py``,
``http/ratelimit.py``, ``auth/questions.py``) and say so in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

logger = logging.getLogger("govgraph.redis")

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
"""What a Redis call may raise when Redis is down, hung or out of connections."""


def redis_client(url: str, *, pool_size: int = 32, timeout: float = 2.0) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return redis.Redis(connection_pool=pool)


def pool_options(pool_size: int, timeout: float) -> dict[str, Any]:
    """The same bounds, for clients built by a library (aiocache)."""
    return {
        "connection_pool_class": redis.BlockingConnectionPool,
        "connection_pool_kwargs": {"timeout": timeout, "socket_timeout": timeout},
        "pool_max_size": pool_size,
        "create_connection_timeout": timeout,
    }


class RedisHealth:
    def __init__(
        self, what: str, retry_after: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self.retry_after = retry_after
        self.clock = clock
        self.failures = 0
        self._failed_at: float | None = None

    @property
    def usable(self) -> bool:
        return self._failed_at is None or self.clock() - self._failed_at >= self.retry_after

    def failed(self, error: BaseException) -> None:
        if self._failed_at is None:
            logger.error(
                "%s: Redis unavailable (%s); %s", self.what, type(error).__name__, self._fallback_note()
            )
        self.failures += 1
        self._failed_at = self.clock()

    def succeeded(self) -> None:
        if self._failed_at is not None:
            logger.warning("%s: Redis is back", self.what)
        self._failed_at = None

    def _fallback_note(self) -> str:
        return f"falling back until it answers again (retried every {self.retry_after:g} s)"
