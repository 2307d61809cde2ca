"""Rows read before a change are never stored after its invalidation: whether the refill follows the read at
once or is left for later (``later``, as the compiled plan does to store them once its response has gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from govgraph.cache.backend import MemoryBackend
from govgraph.cache.freshness import NO_DEMAND, Freshness
from govgraph.cache.rows import Refill
from govgraph.sources.base import Row
from govgraph.sources.memory import MemorySource
from tests.cache.test_rows import make_cache, residents

COLUMNS = ("full_name",)


class HeldSource(MemorySource):
    """Reads its rows, then holds the answer until released: a change can land while it is on its way."""

    def __init__(self) -> None:
        super().__init__("public_security", {"residents": residents(3)})
        self.read = asyncio.Event()
        self.release = asyncio.Event()
        self.hold = False

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        found = await super().fetch(table, key_column, columns, keys)
        await self._held()
        return found

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        found = await super().lookup(table, match_column, columns, keys)
        await self._held()
        return found

    async def _held(self) -> None:
        if self.hold:
            self.read.set()
            await self.release.wait()

    def rename(self, key: str, name: str) -> None:
        for row in self.tables["residents"]:
            if row["resident_id"] == key:
                row["full_name"] = name


async def fetched_name(cache: Any, source: HeldSource, key: str, later: list[Refill] | None = None) -> str:
    found = await cache.fetch(
        source, "residents", "resident_id", COLUMNS, [key], NO_DEMAND, Freshness(), later=later
    )
    return str(found[key]["full_name"])


@pytest.mark.parametrize("whole_department", [False, True])
async def test_a_change_invalidated_while_the_rows_are_on_their_way_is_not_overwritten(
    whole_department: bool,
) -> None:
    source = HeldSource()
    cache = make_cache(MemoryBackend(), [1000.0])
    key = source.tables["residents"][1]["resident_id"]
    source.hold = True
    reading = asyncio.create_task(fetched_name(cache, source, key))
    await asyncio.wait_for(source.read.wait(), 5)
    source.rename(key, "changed")
    await cache.invalidate("public_security", None if whole_department else key)
    source.hold = False
    source.release.set()
    assert await reading == "p1", "the request that read before the change is answered as it read"
    assert await fetched_name(cache, source, key) == "changed", "the old row was not stored"
    assert len(source.queries) == 2
    assert await fetched_name(cache, source, key) == "changed"
    assert len(source.queries) == 2, "rows read after the change are stored as usual"


async def test_a_refill_left_for_later_is_dropped_after_a_change() -> None:
    source = HeldSource()
    cache = make_cache(MemoryBackend(), [1000.0])
    key = source.tables["residents"][0]["resident_id"]
    later: list[Refill] = []
    assert await fetched_name(cache, source, key, later) == "p0"
    assert len(later) == 1, "left for the caller"
    assert await fetched_name(cache, source, key) == "p0"
    assert len(source.queries) == 2, "nothing was stored before the caller ran the refill"

    cache = make_cache(MemoryBackend(), [1000.0])
    later.clear()
    await fetched_name(cache, source, key, later)
    assert len(later) == 1
    source.rename(key, "changed")
    await cache.invalidate("public_security", key)
    for refill in later:
        await refill()
    assert await fetched_name(cache, source, key) == "changed"


async def test_a_refill_left_for_later_stores_the_rows_when_nothing_changed() -> None:
    source = HeldSource()
    cache = make_cache(MemoryBackend(), [1000.0])
    keys = [row["resident_id"] for row in source.tables["residents"]]
    later: list[Refill] = []
    await cache.fetch(source, "residents", "resident_id", COLUMNS, keys, NO_DEMAND, Freshness(), later=later)
    for refill in later:
        await refill()
    assert [await fetched_name(cache, source, key) for key in keys] == ["p0", "p1", "p2"]
    assert len(source.queries) == 1


async def test_a_lookup_read_before_a_change_is_not_stored() -> None:
    source = HeldSource()
    cache = make_cache(MemoryBackend(), [1000.0])
    household = source.tables["residents"][0]["household_no"]

    async def members() -> list[str]:
        found = await cache.lookup(
            source, "residents", "household_no", COLUMNS, [household], NO_DEMAND, Freshness()
        )
        return sorted(row["full_name"] for row in found[household])

    source.hold = True
    reading = asyncio.create_task(members())
    await asyncio.wait_for(source.read.wait(), 5)
    source.rename(source.tables["residents"][2]["resident_id"], "changed")
    await cache.invalidate("public_security", source.tables["residents"][2]["resident_id"])
    source.hold = False
    source.release.set()
    assert await reading == ["p0", "p1", "p2"]
    assert await members() == ["changed", "p0", "p1"]
    assert len(source.queries) == 2
