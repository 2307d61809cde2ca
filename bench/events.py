"""Change subscriptions: latency from a department's commit to the subscriber, and events per second.

A ``govgraph serve`` over the bench city holds one WebSocket subscriber: a
tax officer watching ``Property.mortgaged``, each event resolving the
property's certificate number, area and mortgage. The department flips
``mortgaged`` on properties (and flips them back afterwards, so the city
is left as it was):

- **Latency.** One property at a time, the time from the UPDATE's commit to
  the event's arrival, p50 and p95 over ``SAMPLES`` changes. The reference
  is the floor: the same commit reaching a raw reader of the change table
  (``ChangeFeed``, woken by NOTIFY on PostgreSQL, polling SQLite).
- **Sustained.** ``BURST`` properties changed in one statement, and the
  rate at which their events arrive, each authorized, resolved and
  audited; against the rate the raw reader reads them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from bench.city import City
from bench.common import TAX_OFFICER, bearer, serve
from bench.results import Result, ratio
from govgraph.events.feed import ChangeFeed

SAMPLES = 40
BURST = 300
WAIT = 60.0
SUBSCRIPTION = """subscription {
  changes(entity: Property, fields: [mortgaged], purpose: "tax-audit") {
    key changedFields at property { certificateNo area mortgaged }
  }
}"""


async def run(city: City) -> list[Result]:
    certificates = await _certificates(city, SAMPLES + BURST)
    audit_url = await city.audit_url("events")
    flip = _flipper(city)
    feed = _feed(city)
    try:
        with serve(city, audit_url, GOVGRAPH_EVENTS_POLL_INTERVAL="0.05") as server:
            socket = await _subscriber(server.port)
            try:
                latencies, floor = await _latencies(socket, feed, flip, certificates[:SAMPLES])
                rate, floor_rate = await _burst(socket, feed, flip, certificates[SAMPLES:])
            finally:
                await socket.close()
    finally:
        await flip(certificates)  # the second flip puts every property back as it was
        await feed.aclose()
    p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
    floor50, floor95 = _percentile(floor, 50), _percentile(floor, 95)
    reference = "raw change-table reader"
    return [
        Result("subscription latency p50", p50, floor50, "ms", reference, ratio(p50, floor50), "-"),
        Result("subscription latency p95", p95, floor95, "ms", reference, ratio(p95, floor95), "-"),
        Result(
            f"subscription events ({BURST} changes)",
            rate,
            floor_rate,
            "events/s",
            reference,
            ratio(rate, floor_rate),
            "-",
            "each event authorized, resolved live and audited",
        ),
    ]


async def _certificates(city: City, count: int) -> list[str]:
    statement = "SELECT bdcqzh FROM {table} ORDER BY bdcqzh LIMIT {count}"
    if city.database_url:
        connection = await asyncpg.connect(city.database_url)
        try:
            rows = await connection.fetch(
                statement.format(table="natural_resources.real_estate_units", count=count)
            )
        finally:
            await connection.close()
        return [row[0] for row in rows]
    import aiosqlite

    assert city.directory is not None
    async with aiosqlite.connect(city.directory / "natural_resources.db") as connection:
        cursor = await connection.execute(statement.format(table="real_estate_units", count=count))
        return [row[0] for row in await cursor.fetchall()]


def _flipper(city: City) -> Callable[[list[str]], Awaitable[None]]:
    """Flip ``mortgaged`` on the given properties in one committed statement, as the registry would."""
    if city.database_url:
        url = city.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        schema: str | None = "natural_resources"
    else:
        url = f"sqlite+aiosqlite:///{city.directory}/natural_resources.db"
        schema = None
    engine = create_async_engine(url)
    table = sa.table("real_estate_units", sa.column("bdcqzh"), sa.column("mortgaged"), schema=schema)

    async def flip(certificates: list[str]) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(table)
                .where(table.c.bdcqzh.in_(certificates))
                .values(mortgaged=sa.not_(table.c.mortgaged))
            )

    return flip


def _feed(city: City) -> ChangeFeed:
    if city.database_url:
        url = city.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        return ChangeFeed(
            create_async_engine(url), "natural_resources", "natural_resources", poll_interval=0.05
        )
    engine = create_async_engine(f"sqlite+aiosqlite:///{city.directory}/natural_resources.db")
    return ChangeFeed(engine, "natural_resources", poll_interval=0.05)


async def _subscriber(port: int) -> ClientConnection:
    socket = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    headers = bearer(**TAX_OFFICER)
    await socket.send(json.dumps({"type": "connection_init", "payload": headers}))
    await asyncio.wait_for(socket.recv(), WAIT)
    await socket.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))
    await asyncio.sleep(1.0)  # the subscription is in place before the first change: a warm-up, not a measure
    return socket


async def _event(socket: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
        if message["type"] == "next":
            return message["payload"]
        if message["type"] == "error":
            raise RuntimeError(f"the subscription was refused: {message['payload']}")


async def _latencies(
    socket: ClientConnection,
    feed: ChangeFeed,
    flip: Callable[[list[str]], Awaitable[None]],
    certificates: list[str],
) -> tuple[list[float], list[float]]:
    feed.after = await _head(feed)
    changes = feed.__aiter__()
    ours: list[float] = []
    floor: list[float] = []
    for certificate in certificates:
        await flip([certificate])
        committed = time.perf_counter()
        await asyncio.wait_for(anext(changes), WAIT)
        floor.append((time.perf_counter() - committed) * 1000)
        payload = await _event(socket)
        ours.append((time.perf_counter() - committed) * 1000)
        assert payload["data"]["changes"]["key"] == certificate, payload
    return ours, floor


async def _burst(
    socket: ClientConnection,
    feed: ChangeFeed,
    flip: Callable[[list[str]], Awaitable[None]],
    certificates: list[str],
) -> tuple[float, float]:
    changes = feed.__aiter__()
    start = time.perf_counter()
    await flip(certificates)
    read = 0
    while read < len(certificates):
        await asyncio.wait_for(anext(changes), WAIT)
        read += 1
    floor_rate = len(certificates) / (time.perf_counter() - start)
    received = 0
    while received < len(certificates):
        await _event(socket)
        received += 1
    rate = len(certificates) / (time.perf_counter() - start)
    return rate, floor_rate


async def _head(feed: ChangeFeed) -> int:
    latest = 0
    while True:
        found = await feed.fetch(latest)
        if not found:
            return latest
        latest = found[-1].id


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
