from __future__ import annotations

import pytest

from govgraph.errors import SourceUnavailable
from govgraph.sources.breaker import BreakerSource, CircuitBreaker
from govgraph.sources.memory import MemorySource


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_opens_after_repeated_failures_fails_fast_then_probes_and_closes() -> None:
    clock = Clock()
    source = MemorySource("taxation", {"t": [{"k": "a", "v": 1}]})
    guarded = BreakerSource(
        source, CircuitBreaker("taxation", failure_threshold=3, cool_down=30, clock=clock)
    )
    source.available = False
    for _ in range(3):
        with pytest.raises(SourceUnavailable):
            await guarded.fetch("t", "k", ["v"], ["a"])
    assert guarded.breaker.state == "open"
    calls = len(source.queries)
    with pytest.raises(SourceUnavailable, match="circuit open"):
        await guarded.fetch("t", "k", ["v"], ["a"])
    assert len(source.queries) == calls, "no call reaches the department while the circuit is open"

    clock.now += 31
    assert guarded.breaker.state == "half-open"
    with pytest.raises(SourceUnavailable):
        await guarded.fetch("t", "k", ["v"], ["a"])
    assert guarded.breaker.state == "open", "a failed probe opens it again"

    clock.now += 31
    source.available = True
    assert await guarded.fetch("t", "k", ["v"], ["a"]) == {"a": {"v": 1}}
    assert guarded.breaker.state == "closed"
    assert guarded.breaker.failures == 0


async def test_a_success_resets_the_failure_count() -> None:
    source = MemorySource("taxation", {"t": [{"k": "a", "v": 1}]})
    guarded = BreakerSource(source, CircuitBreaker("taxation", failure_threshold=2))
    source.available = False
    with pytest.raises(SourceUnavailable):
        await guarded.fetch("t", "k", ["v"], ["a"])
    source.available = True
    await guarded.fetch("t", "k", ["v"], ["a"])
    source.available = False
    with pytest.raises(SourceUnavailable):
        await guarded.fetch("t", "k", ["v"], ["a"])
    assert guarded.breaker.state == "closed"
