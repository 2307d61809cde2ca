"""RowCache and the memory backend through the source protocol (MemorySource), no app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from govgraph.cache.backend import MemoryBackend
from govgraph.cache.freshness import NO_DEMAND, Freshness
from govgraph.cache.metrics import CacheMetrics
from govgraph.cache.policy import CachePolicy
from govgraph.cache.rows import RowCache
from govgraph.catalog.loader import load_catalog
from govgraph.errors import SourceUnavailable
from govgraph.settings import DEMO_CATALOG
from govgraph.sources.memory import MemorySource


class CountingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.sets = 0

    async def multi_get(self, keys: Sequence[str]) -> list[Any]:
        self.gets += 1
        return await super().multi_get(keys)

    async def multi_set(self, items: Sequence[tuple[str, Any]], ttl: int) -> None:
        self.sets += 1
        await super().multi_set(items, ttl)


def residents(count: int) -> list[dict[str, Any]]:
    return [
        {
            "resident_id": f"{index:018d}",
            "full_name": f"p{index}",
            "sex": "female",
            "birth_date": None,
            "ethnic_group": "Han",
            "hukou_address": "a",
            "household_no": "h",
        }
        for index in range(count)
    ]


def make_cache(backend: MemoryBackend, now: list[float]) -> RowCache:
    return RowCache(
        backend,
        CachePolicy(load_catalog(DEMO_CATALOG, env={})),
        CacheMetrics(CollectorRegistry()),
        clock=lambda: now[0],
    )


async def test_a_miss_for_1000_keys_is_one_query_and_one_write_batch() -> None:
    source = MemorySource("public_security", {"residents": residents(1000)})
    backend = CountingBackend()
    cache = make_cache(backend, [1000.0])
    keys = [row["resident_id"] for row in source.tables["residents"]]

    found = await cache.fetch(
        source, "residents", "resident_id", ("full_name",), keys, NO_DEMAND, Freshness()
    )
    assert len(found) == 1000 and found[keys[7]]["full_name"] == "p7"
    assert (len(source.queries), backend.gets, backend.sets) == (1, 1, 1)

    again = await cache.fetch(
        source, "residents", "resident_id", ("full_name", "sex"), keys, NO_DEMAND, Freshness()
    )
    assert (again[keys[7]]["full_name"], again[keys[7]]["sex"]) == ("p7", "female")
    assert (len(source.queries), backend.gets, backend.sets) == (1, 2, 1), "the whole column group was cached"


async def test_unknown_keys_are_cached_as_absent() -> None:
    source = MemorySource("public_security", {"residents": residents(2)})
    cache = make_cache(MemoryBackend(), [1000.0])
    for _ in range(2):
        found = await cache.fetch(
            source, "residents", "resident_id", ("full_name",), ["nobody"], NO_DEMAND, Freshness()
        )
        assert found == {}
    assert len(source.queries) == 1


async def test_stale_within_the_window_then_unavailable() -> None:
    source = MemorySource("public_security", {"residents": residents(1)})
    now = [1000.0]
    cache = make_cache(MemoryBackend(clock=lambda: now[0]), now)
    key = source.tables["residents"][0]["resident_id"]
    await cache.fetch(source, "residents", "resident_id", ("full_name",), [key], NO_DEMAND, Freshness())
    source.available = False

    now[0] += 86_400 + 10
    freshness = Freshness()
    stale = await cache.fetch(source, "residents", "resident_id", ("full_name",), [key], NO_DEMAND, freshness)
    assert stale[key]["full_name"] == "p0"
    assert freshness.served_from() == {"public_security": "stale"}

    now[0] += 86_400
    try:
        await cache.fetch(source, "residents", "resident_id", ("full_name",), [key], NO_DEMAND, Freshness())
    except SourceUnavailable as error:
        assert error.department == "public_security"
    else:
        raise AssertionError("past the stale window the department's failure must surface")


async def test_memory_backend_is_bounded_and_expires() -> None:
    now = [0.0]
    backend = MemoryBackend(max_entries=3, clock=lambda: now[0])
    await backend.multi_set([(f"k{index}", index) for index in range(5)], ttl=10)
    assert len(backend) == 3
    assert await backend.multi_get(["k0", "k1", "k2", "k3", "k4"]) == [None, None, 2, 3, 4]
    now[0] = 11
    assert await backend.multi_get(["k4"]) == [None]
    assert await backend.delete_prefix("k") == 3
