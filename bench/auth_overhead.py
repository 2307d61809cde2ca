"""Scenario 4: authorization's cost, the durable audit commit included.

The same 1000-person query as ``tax_officer`` (decisions, masks, and the audit
record committed before the response leaves, 1000 keys indexed) and with
authorization off (nothing decided, nothing audited). Decisions are made once
per operation and reused, so the ratio should stay near 1 (target: at most
1.15). Shown beside it for information: authorization alone, with the app's
audit writer detached.
"""

from __future__ import annotations

from bench.city import City
from bench.common import LIVE, app_client, graphql, side_by_side
from bench.results import Result, ratio

QUERY = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    idNumber name gender birthDate maritalStatus annualIncome taxCompliant
    socialInsurance { contributionMonths lastPaidMonth }
  }
}"""


async def run(city: City, rounds: int = 30) -> list[Result]:
    ids = await city.ids(1000, offset=3000)
    async with (
        app_client(city, await city.audit_url("authorized")) as (_, authorized),
        app_client(city, await city.audit_url("decisions")) as (decisions_app, decisions_only),
        app_client(city, await city.audit_url("open"), authorization=False) as (_, unguarded),
    ):
        decisions_app.state.audit_writer = None

        def request(client):  # type: ignore[no-untyped-def]
            async def send() -> None:
                data = await graphql(client, QUERY, {"ids": ids}, LIVE)
                assert len(data["persons"]) == 1000

            return send

        medians = await side_by_side(
            {
                "authorized": request(authorized),
                "audit aside": request(decisions_only),
                "unguarded": request(unguarded),
            },
            rounds,
            # The first ten or so requests of each app run slower (25-35 ms against 20) while connections,
            # statements and the audit chain warm up: left out of the samples.
            warmup=10,
        )
    return [
        Result(
            "4 authorization overhead, audit commit included: 1000 persons, 4 departments",
            medians["authorized"] * 1000,
            medians["unguarded"] * 1000,
            "ms",
            "authorization off",
            ratio(medians["authorized"], medians["unguarded"]),
            "<= 1.15",
        ),
        Result(
            "4 authorization overhead, decisions alone (audit writer detached)",
            medians["audit aside"] * 1000,
            medians["unguarded"] * 1000,
            "ms",
            "authorization off",
            ratio(medians["audit aside"], medians["unguarded"]),
            "-",
        ),
    ]
