"""A live read (``Cache-Control: no-cache``) asks the department for the columns it selected and no more, and
refreshes only the column groups it read whole: an entry always holds its group's every column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from govgraph.cache.freshness import NO_DEMAND, Demand, Freshness
from govgraph.sources.base import Row
from govgraph.sources.memory import MemorySource
from tests.auth_helpers import bearer
from tests.cache.test_rows import CountingBackend, make_cache, residents
from tests.plan.conftest import served as served  # the app over the demo city
from tests.plan.test_early_audit import person_ids

LIVE = Demand(max_age=0, no_cache=True)


class ColumnsAsked(MemorySource):
    """A department that remembers which columns each fetch asked for (it answers only those)."""

    def __init__(self, department: str, tables: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(department, tables)
        self.asked: list[tuple[str, ...]] = []

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        self.asked.append(tuple(columns))
        return await super().fetch(table, key_column, columns, keys)


async def test_a_live_read_of_part_of_a_group_asks_for_that_part_and_stores_nothing() -> None:
    source = ColumnsAsked("public_security", {"residents": residents(20)})
    backend = CountingBackend()
    cache = make_cache(backend, [1000.0])
    keys = [row["resident_id"] for row in source.tables["residents"]]

    found = await cache.fetch(source, "residents", "resident_id", ("full_name",), keys, LIVE, Freshness())
    assert found[keys[3]]["full_name"] == "p3"
    assert source.asked == [("full_name",)], "the registered address, in the same group, was not read"
    assert (backend.gets, backend.sets) == (0, 0)

    again = await cache.fetch(
        source, "residents", "resident_id", ("full_name",), keys, NO_DEMAND, Freshness()
    )
    assert again[keys[3]]["full_name"] == "p3"
    assert len(source.asked) == 2, "nothing partial was stored for the next read to find"
    assert "hukou_address" in source.asked[1], "a cached read fills the whole group"
    assert backend.sets == 1


async def test_a_live_read_of_a_whole_group_refreshes_it() -> None:
    backend = CountingBackend()
    cache = make_cache(backend, [1000.0])
    [group] = cache.policy.split("public_security", "residents", ("full_name",)).groups
    rows = [{**dict.fromkeys(group.columns), **row} for row in residents(20)]
    source = ColumnsAsked("public_security", {"residents": rows})
    keys = [row["resident_id"] for row in rows]

    await cache.fetch(source, "residents", "resident_id", group.columns, keys, LIVE, Freshness())
    assert source.asked == [group.columns] and backend.sets == 1

    found = await cache.fetch(
        source, "residents", "resident_id", ("full_name",), keys, NO_DEMAND, Freshness()
    )
    assert found[keys[5]]["full_name"] == "p5"
    assert len(source.asked) == 1, "the next read was served from what the live read stored"


async def test_a_tax_officers_live_list_reads_only_its_columns_from_the_department(
    served: tuple[Starlette, httpx.AsyncClient],
    demo_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, client = served
    ids = await person_ids(demo_dir, 30)
    source = app.state.sources["public_security"]
    asked: list[tuple[str, ...]] = []
    original = source.fetch

    async def fetch(table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]) -> Any:
        asked.append(tuple(columns))
        return await original(table, key_column, columns, keys)

    monkeypatch.setattr(source, "fetch", fetch)
    query = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber name registeredAddress } }"
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"ids": ids}},
        headers={**bearer("tax_officer", "tax-audit"), "Cache-Control": "no-cache"},
    )
    body = orjson.loads(response.content)
    assert [person["name"] is not None for person in body["data"]["persons"]] == [True] * 30
    assert {error["extensions"]["code"] for error in body["errors"]} == {"FORBIDDEN"}
    assert [set(columns) for columns in asked] == [{"resident_id", "full_name"}], asked
