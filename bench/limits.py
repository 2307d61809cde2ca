"""Measuring a document costs time linear in its size, however its fragments fan out.

For three hostile shapes (fragments spread twice per selection set, spread
under two aliases per level, lists nested per level), the limit measurement
is timed at 10, 20, 40 and 80 levels side by side. Linear means the time per
token stays flat: the ratio of time per token at 80 levels to that at 10
should be near 1 (target: at most 2). The old walker took seconds to
minutes at 40 levels. Then, over HTTP, a refused 80-level document against
a trivial ``{ __typename }``: refusing costs about one small request.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx
from asgi_lifespan import LifespanManager
from graphql import FragmentDefinitionNode, parse
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import get_variable_values

from bench.city import City
from bench.common import demo_city, side_by_side
from bench.results import Result, ratio
from govgraph import Settings, create_app
from govgraph.operation.collection import FieldCollection, operation_of
from govgraph.operation.limits import Limits, count_tokens, measure

ZHANG_WEI = "110101199003071233"
TARGET = 2.0
LEVELS = (10, 20, 40, 80)


def spread_twice(levels: int) -> str:
    parts = ['{ enterprise(creditCode: "91110101MA01BXQ80Y") { ...F0 } }']
    parts += [f"fragment F{i} on Enterprise {{ name ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return "\n".join([*parts, f"fragment F{levels} on Enterprise {{ status }}"])


def aliased(levels: int) -> str:
    parts = [f'{{ person(idNumber: "{ZHANG_WEI}") {{ ...F0 }} }}']
    parts += [
        f"fragment F{i} on Person {{ a: spouse {{ ...F{i + 1} }} b: spouse {{ ...F{i + 1} }} }}"
        for i in range(levels)
    ]
    return "\n".join([*parts, f"fragment F{levels} on Person {{ name }}"])


def lists(levels: int) -> str:
    parts = [f'{{ person(idNumber: "{ZHANG_WEI}") {{ ...F0 }} }}']
    parts += [
        f"fragment F{i} on Person {{ name household {{ members {{ ...F{i + 1} }} }} }}" for i in range(levels)
    ]
    return "\n".join([*parts, f"fragment F{levels} on Person {{ name }}"])


def measurement_seconds(schema: object, text: str, rounds: int = 30) -> float:
    document = parse(text)
    operation = operation_of(document, None)
    fragments = {
        item.name.value: FragmentDetails(item)
        for item in document.definitions
        if isinstance(item, FragmentDefinitionNode)
    }
    values = get_variable_values(schema, (), {})  # type: ignore[arg-type]
    samples = []
    for _ in range(rounds):
        collection = FieldCollection(schema, fragments, values, operation)  # type: ignore[arg-type]
        start = time.perf_counter()
        measure(collection, Limits())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def run(city: City) -> list[Result]:
    """Measurement does not depend on where the rows live: a small SQLite city of its own."""
    directory = demo_city(scale=200)
    app = create_app(
        Settings(audit_url=f"sqlite+aiosqlite:///{directory}/audit.db", rate_limit_anonymous=1e9),
        environ={"GOVGRAPH_DEMO_DIR": str(directory)},
    )
    schema = app.state.schema._schema
    results: list[Result] = []
    shapes: dict[str, Callable[[int], str]] = {
        "spread twice": spread_twice,
        "aliased": aliased,
        "lists": lists,
    }
    for name, shape in shapes.items():
        per_token = []
        for levels in LEVELS:
            text = shape(levels)
            per_token.append(measurement_seconds(schema, text) / count_tokens(text, 10**6))
        results.append(
            Result(
                f"limits: measuring a document, time per token at {LEVELS[-1]} levels vs {LEVELS[0]} ({name})",
                per_token[-1] * 1e6,
                per_token[0] * 1e6,
                "µs",
                f"{LEVELS[0]} levels",
                ratio(per_token[-1], per_token[0]),
                f"<= {TARGET}",
            )
        )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        hostile = {"query": aliased(80)}

        async def refused() -> None:
            body = (await client.post("/graphql", json=hostile)).json()
            assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"

        async def trivial() -> None:
            await client.post("/graphql", json={"query": "{ __typename }"})

        timings = await side_by_side({"refused": refused, "trivial": trivial}, rounds=30)
    results.append(
        Result(
            "limits: an 80-level fan-out refused, vs a trivial request, HTTP",
            timings["refused"] * 1000,
            timings["trivial"] * 1000,
            "ms",
            "{ __typename }",
            ratio(timings["refused"], timings["trivial"]),
            "-",
        )
    )
    return results
