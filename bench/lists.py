"""Scenarios 1 and 7: a review office's list, against the raw driver, and at ten times the size.

1. ``persons(idNumbers: [1000 keys])`` with every public_security scalar a tax
   officer may read (five), end to end over HTTP against ``govgraph serve``, live
   (``Cache-Control: no-cache``), sent by a client that only writes the request
   and reads the answer (``raw_http.py``), with httpx's figure beside it. The
   floor: the driver fetching the same columns for the same keys in one
   statement, plus ``orjson.dumps`` of the rows. Target: at most 3×.
7. The same list for 10,000 keys (fetched in chunks) against 1000. Target: at
   most 11× (linear), with the server's memory flat over repeated large lists.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import asyncpg
import httpx
import orjson

from bench.city import City
from bench.common import LIVE, answered, graphql, serve, side_by_side
from bench.load import tree_rss_mb
from bench.raw_http import RawHttpClient
from bench.results import Result, ratio

FIELDS = ("idNumber", "name", "gender", "birthDate", "ethnicity")
COLUMNS = ("resident_id", "full_name", "sex", "birth_date", "ethnic_group")
QUERY = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { %s } }" % " ".join(FIELDS)


class Floor:
    """The least any server could do: one statement for the keys, the rows dumped as JSON."""

    def __init__(self, city: City) -> None:
        self.city = city
        self._postgres: asyncpg.Connection | None = None
        self._sqlite: aiosqlite.Connection | None = None

    async def open(self) -> None:
        columns = ", ".join(COLUMNS)
        if self.city.database_url:
            self._postgres = await asyncpg.connect(self.city.database_url)
            self._statement = await self._postgres.prepare(
                f"SELECT {columns} FROM public_security.residents WHERE resident_id = ANY($1)"
            )
        else:
            assert self.city.directory is not None
            self._sqlite = await aiosqlite.connect(self.city.directory / "public_security.db")
            self._sqlite.row_factory = aiosqlite.Row
            self._sql = (
                f"SELECT {columns} FROM residents WHERE resident_id IN (SELECT value FROM json_each(?))"
            )

    async def run(self, ids: list[str]) -> bytes:
        if self._postgres is not None:
            rows: Any = await self._statement.fetch(ids)
        else:
            assert self._sqlite is not None
            cursor = await self._sqlite.execute(self._sql, (orjson.dumps(ids).decode(),))
            rows = await cursor.fetchall()
        return orjson.dumps([dict(row) for row in rows])

    async def close(self) -> None:
        if self._postgres is not None:
            await self._postgres.close()
        if self._sqlite is not None:
            await self._sqlite.close()


async def run(city: City, rounds: int = 30) -> list[Result]:
    thousand = await city.ids(1000)
    ten_thousand = await city.ids(10_000)
    floor = Floor(city)
    await floor.open()
    try:
        with serve(city, await city.audit_url("lists")) as server:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=120) as client,
                RawHttpClient(server.url) as raw,
            ):
                list_request = raw.request(
                    "/graphql",
                    orjson.dumps({"query": QUERY, "variables": {"ids": thousand}}),
                    {**LIVE, "Content-Type": "application/json"},
                )

                async def raw_persons() -> None:
                    data = answered(*await raw.send(list_request))
                    assert len(data["persons"]) == len(thousand)

                def persons(ids: list[str]):  # type: ignore[no-untyped-def]
                    async def send() -> None:
                        data = await graphql(client, QUERY, {"ids": ids}, LIVE)
                        assert len(data["persons"]) == len(ids)

                    return send

                async def floor_run() -> None:
                    assert len(orjson.loads(await floor.run(thousand))) == len(thousand)

                overhead = await side_by_side(
                    {"govgraph": raw_persons, "floor": floor_run, "govgraph, httpx": persons(thousand)},
                    rounds,
                )
                scaling = await side_by_side(
                    {"1000": persons(thousand), "10000": persons(ten_thousand)}, max(rounds // 3, 5), warmup=2
                )
                settled = tree_rss_mb(server.process.pid)
                for _ in range(30):
                    await persons(ten_thousand)()
                after = tree_rss_mb(server.process.pid)
    finally:
        await floor.close()
    return [
        Result(
            "1 list overhead: 1000 persons x 5 public_security scalars, live, HTTP",
            overhead["govgraph"] * 1000,
            overhead["floor"] * 1000,
            "ms",
            "floor: driver + orjson",
            ratio(overhead["govgraph"], overhead["floor"]),
            "<= 3",
            "public_security has 5 scalars a tax officer may read, not 9: the registered address is "
            "sensitive and not granted to the role, the criminal record is never shared; "
            f"sent by httpx instead: {overhead['govgraph, httpx'] * 1000:.2f} ms, "
            f"{ratio(overhead['govgraph, httpx'], overhead['floor']):.2f}x the floor",
        ),
        Result(
            "7 scaling: 10,000 keys vs 1000 keys",
            scaling["10000"] * 1000,
            scaling["1000"] * 1000,
            "ms",
            "1000 keys",
            ratio(scaling["10000"], scaling["1000"]),
            "<= 11",
        ),
        Result(
            "7 scaling: server RSS after 30 more 10,000-key lists",
            after,
            settled,
            "MiB",
            "RSS before them",
            ratio(after, settled),
            "<= 1.1",
        ),
    ]
