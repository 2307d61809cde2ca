"""Scenarios 2 and 3: how many statements a query costs, and whether its departments are asked at once.

2. A list touching all six departments, for 10 keys and for 1000, live:
   the statements each department received (``/metrics``,
   ``govgraph_department_queries_total``) must be equal (target: ratio 1), and
   no more than ``govgraph explain`` plans, one per department and level.
3. Every department source answers after 50 ms, as a department API across
   the network would. Queries touching all six departments against one
   touching only public_security (target: at most 1.3):
   - six departments through one person's fields and the roots for an
     enterprise and a property: every department is asked in the first level;
   - six departments through the person's lists (enterprises, properties)
     and the employer's name: a list's members, and a reference's target in
     another department, are known only once the level before has answered,
     so they are asked a level later, whatever the server. That is two
     dependent rounds of 50 ms, against one for a flat list of one
     department (about 2x, reported); the line's target compares it with one
     department read through the same two levels (the person's household), so
     that it measures what scenario 3 is about: whether a level's departments
     are asked at once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.city import City
from bench.common import LIVE, Delayed, app_client, department_queries, graphql, side_by_side
from bench.results import Result, ratio
from govgraph.auth.principal import Principal
from govgraph.demo.golden import EXAMPLE_TECH, GOLDEN_PROPERTY, ZHANG_WEI
from govgraph.plan.explain import explain

SIX_IN_LISTS = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    name maritalStatus annualIncome
    socialInsurance { contributionMonths employer { name } }
    enterprises { name status }
    properties { certificateNo mortgaged }
  }
}"""
SIX_AT_ONCE = """
query($id: IdNumber!, $code: CreditCode!, $certificate: String!) {
  person(idNumber: $id) { name maritalStatus annualIncome socialInsurance { contributionMonths } }
  enterprise(creditCode: $code) { name status }
  property(certificateNo: $certificate) { mortgaged }
}"""
ONE = """
query($id: IdNumber!) { person(idNumber: $id) { name gender birthDate } }"""
ONE_LIST = """
query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name gender birthDate } }"""
ONE_DEEP = """
query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name household { householdId } } }"""
LATENCY = 0.05


async def round_trips(city: City) -> list[Result]:
    ten, thousand = await city.ids(10, offset=500), await city.ids(1000, offset=1000)
    async with app_client(city, await city.audit_url("round_trips")) as (app, client):
        principal = Principal("bench", "taxation", ("tax_officer",), "tax-audit", True)
        plan = explain(app.state, SIX_IN_LISTS, principal, variables={"ids": ten}).requests
        planned = len(plan)
        per_level = Counter((request.level, request.department) for request in plan)
        (busiest_level, busiest), most = per_level.most_common(1)[0]
        asked = sorted(
            f"{request.table} ({request.kind}, from {request.reached_from})"
            for request in plan
            if (request.level, request.department) == (busiest_level, busiest)
        )

        async def statements(ids: list[str]) -> dict[str, float]:
            before = await department_queries(client)
            data = await graphql(client, SIX_IN_LISTS, {"ids": ids}, LIVE)
            assert len(data["persons"]) == len(ids)
            after = await department_queries(client)
            return {
                name: after[name] - before.get(name, 0)
                for name in after
                if after[name] != before.get(name, 0)
            }

        await statements(ten)  # statements prepared, pools filled
        small, large = await statements(ten), await statements(thousand)
    touched = ", ".join(f"{name} {int(count)}" for name, count in sorted(large.items()))
    return [
        Result(
            "2 round trips: statements for 1000 keys vs 10, six departments",
            sum(large.values()),
            sum(small.values()),
            "queries",
            "10 keys",
            ratio(sum(large.values()), sum(small.values())),
            "== 1",
            f"{len(large)} departments asked; per department at 1000 keys: {touched}",
        ),
        Result(
            "2 round trips: statements vs explain's plan (one per department and level)",
            sum(large.values()),
            planned,
            "queries",
            "planned",
            ratio(sum(large.values()), planned),
            "== 1",
        ),
        Result(
            "2 round trips: most statements one department gets in one level (planned)",
            most,
            1,
            "queries",
            "one",
            most,
            "<= 1",
            f"{busiest} at level {busiest_level}: {'; '.join(asked)}" if most > 1 else "",
        ),
    ]


async def parallel(city: City, rounds: int = 15) -> list[Result]:
    ids = await city.ids(10, offset=2000)
    async with app_client(city, await city.audit_url("parallel")) as (app, client):
        app.state.sources = {name: Delayed(source, LATENCY) for name, source in app.state.sources.items()}
        at_once = {"id": ZHANG_WEI, "code": EXAMPLE_TECH, "certificate": GOLDEN_PROPERTY}

        def query(text: str, variables: dict[str, Any]):  # type: ignore[no-untyped-def]
            async def send() -> None:
                await graphql(client, text, variables, LIVE)

            return send

        medians = await side_by_side(
            {
                "six at once": query(SIX_AT_ONCE, at_once),
                "one": query(ONE, {"id": ZHANG_WEI}),
                "six in lists": query(SIX_IN_LISTS, {"ids": ids}),
                "one list": query(ONE_LIST, {"ids": ids}),
                "one, two levels": query(ONE_DEEP, {"ids": ids}),
            },
            rounds,
        )
    return [
        Result(
            "3 parallel departments: six (person, enterprise, property) vs one, 50 ms each",
            medians["six at once"] * 1000,
            medians["one"] * 1000,
            "ms",
            "one department",
            ratio(medians["six at once"], medians["one"]),
            "<= 1.3",
        ),
        Result(
            "3 parallel departments: six through a person's lists vs one through a reference, 50 ms each",
            medians["six in lists"] * 1000,
            medians["one, two levels"] * 1000,
            "ms",
            "one department, two levels",
            ratio(medians["six in lists"], medians["one, two levels"]),
            "<= 1.3",
            f"against one department's flat list ({medians['one list'] * 1000:.0f} ms): "
            f"{ratio(medians['six in lists'], medians['one list']):.2f}x; a list's members and the "
            "employer are known only once the level before has answered: two dependent rounds of 50 ms "
            "for any server",
        ),
    ]


async def run(city: City) -> list[Result]:
    return [*await round_trips(city), *await parallel(city)]
