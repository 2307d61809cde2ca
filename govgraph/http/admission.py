"""``AdmissionMiddleware``: shed load early and clearly, before any department is queried.

At most ``max_concurrent`` GraphQL requests run at once in a process; up to
``max_queued`` more wait their turn, in order, for at most ``queue_timeout``
seconds. A request that finds the queue full, or waits past its turn, is
answered at once with ``503`` and ``Retry-After``: no work is started that
could not finish, and the requests admitted keep their departments' full
attention. Health, readiness and metrics are never queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.http.responses import send_error


class AdmissionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrent: int = 64,
        max_queued: int = 512,
        queue_timeout: float = 5.0,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout
        self.path = path
        self.running = 0
        self.shed = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            self.shed += 1
            seconds = max(1, math.ceil(self.queue_timeout / 2))
            await send_error(
                scope,
                send,
                503,
                "OVERLOADED",
                f"the service is at capacity; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _admit(self) -> bool:
        if self.running < self.max_concurrent and not self._waiting:
            self.running += 1
            return True
        if len(self._waiting) >= self.max_queued:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                # Admitted at the last moment: pass the slot on rather than leak it.
                self._release()
            else:
                turn.cancel()
                self._discard(turn)
            return False
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()
            else:
                self._discard(turn)
            raise
        return True

    def _release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the next in line
                return
        self.running -= 1

    def _discard(self, turn: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(turn)
