"""``CircuitBreaker``: stop calling a department that keeps failing, then probe it.

    closed ──(``failure_threshold`` failures in a row)──► open
    open ──(``cool_down`` seconds)──► half-open: one probe call goes through
    half-open ──success──► closed;  ──failure──► open again

While open, calls fail at once with ``SourceUnavailable(department, "circuit open")``
instead of waiting for the department's timeout. ``BreakerSource`` puts one in
front of any source.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row, Source
from govgraph.sources.metrics import SourceObserver

T = TypeVar("T")


class CircuitBreaker:
    def __init__(
        self,
        department: str,
        failure_threshold: int = 5,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.department = department
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._probing = False
        self.on_change: Callable[[str], None] | None = None
        """Told each new state (closed, half-open, open) as it is entered: for the circuit gauge."""

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cool_down:
            return "half-open"
        return "open"

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        self.admit()
        try:
            result = await operation()
        except SourceUnavailable:
            self.failed()
            raise
        except BaseException:
            self._probing = False
            raise
        self.succeeded()
        return result

    def admit(self) -> None:
        """Let a call through, or raise ``SourceUnavailable`` at once while open (or while probing).
        Every admitted call must end in ``succeeded``, ``failed`` or ``abandoned``."""
        if self.opened_at is None:
            return
        if self.clock() - self.opened_at < self.cool_down or self._probing:
            raise SourceUnavailable(self.department, "circuit open")
        self._probing = True
        self._moved("half-open")

    def succeeded(self) -> None:
        reopened = self.opened_at is not None
        self._probing = False
        self.failures = 0
        self.opened_at = None
        if reopened:
            self._moved("closed")

    def failed(self) -> None:
        self._probing = False
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
            self._moved("open")

    def _moved(self, state: str) -> None:
        if self.on_change is not None:
            self.on_change(state)

    def abandoned(self) -> None:
        """The call ended without an answer either way (cancelled): neither success nor failure."""
        self._probing = False


class BreakerSource:
    """A source behind a circuit breaker; same protocol, so nothing else changes. ``observer`` measures
    each call (``sources/metrics.py``) and traces it while tracing is on."""

    def __init__(
        self, source: Source, breaker: CircuitBreaker, observer: SourceObserver | None = None
    ) -> None:
        self.source = source
        self.breaker = breaker
        self.department = source.department
        self.max_keys_per_query = source.max_keys_per_query
        self.observer = observer or SourceObserver(source.department)
        breaker.on_change = self.observer.circuit_moved

    @property
    def engine(self) -> Any:
        return getattr(self.source, "engine", None)

    @property
    def queries(self) -> int:
        return int(getattr(self.source, "queries", 0))

    async def open(self) -> None:
        await self.source.open()

    async def close(self) -> None:
        await self.source.close()

    async def check(self) -> None:
        """Readiness probes count as statements sent, not in the latency of department calls."""
        try:
            await self.breaker.call(self.source.check)
        finally:
            self.observer.sync_queries()

    # fetch and lookup are the hot path: the breaker's steps inline, with no closure or extra coroutine.
    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        breaker = self.breaker
        call = self.observer.begin("fetch", table, len(keys))
        try:
            breaker.admit()
            try:
                found = await self.source.fetch(table, key_column, columns, keys)
            except SourceUnavailable:
                breaker.failed()
                raise
            except BaseException:
                breaker.abandoned()
                raise
        except BaseException as error:
            call.failed(error)
            raise
        breaker.succeeded()
        call.done(len(found))
        return found

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        breaker = self.breaker
        call = self.observer.begin("lookup", table, len(keys))
        try:
            breaker.admit()
            try:
                found = await self.source.lookup(table, match_column, columns, keys)
            except SourceUnavailable:
                breaker.failed()
                raise
            except BaseException:
                breaker.abandoned()
                raise
        except BaseException as error:
            call.failed(error)
            raise
        breaker.succeeded()
        call.done_grouped(found)
        return found

    async def scan(
        self, table: str, key_column: str, *, equals: Mapping[str, Any], after: Any | None, limit: int
    ) -> list[Any]:
        call = self.observer.begin("scan", table, 0)
        try:
            found = await self.breaker.call(
                lambda: self.source.scan(table, key_column, equals=equals, after=after, limit=limit)
            )
        except BaseException as error:
            call.failed(error)
            raise
        call.done(len(found))
        return found
