"""Field resolvers never query on their own: the query count follows departments, not rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.auth_helpers import bearer
from tests.conftest import QueryCounter, graphql

TAX = bearer("tax_officer", "tax-audit")

PERSONS_QUERY = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    idNumber name maritalStatus annualIncome taxCompliant
    socialInsurance { contributionMonths employer { name } }
    spouse { name }
    properties { certificateNo owners { share } }
    enterprises { name }
  }
}"""


def person_ids(demo_dir: Path, count: int) -> list[str]:
    with sqlite3.connect(demo_dir / "public_security.db") as connection:
        rows = connection.execute("SELECT resident_id FROM residents ORDER BY resident_id LIMIT ?", (count,))
        return [row[0] for row in rows]


async def test_query_count_for_1000_keys_equals_that_for_10(
    client: httpx.AsyncClient, queries: QueryCounter, demo_dir: Path
) -> None:
    ids = person_ids(demo_dir, 1000)
    assert len(ids) == 1000
    await graphql(client, PERSONS_QUERY, {"ids": ids[:1]}, TAX)

    queries.reset()
    small = await graphql(client, PERSONS_QUERY, {"ids": ids[:10]}, TAX)
    count_for_10 = dict(queries.counts)
    queries.reset()
    large = await graphql(client, PERSONS_QUERY, {"ids": ids}, TAX)
    count_for_1000 = dict(queries.counts)

    assert "errors" not in small and "errors" not in large
    assert len(large["data"]["persons"]) == 1000
    assert all(person is not None for person in large["data"]["persons"])
    assert count_for_1000 == count_for_10
    assert sum(count_for_1000.values()) <= 12


async def test_a_department_not_asked_for_is_not_queried(
    client: httpx.AsyncClient, queries: QueryCounter
) -> None:
    queries.reset()
    await graphql(client, '{ enterprise(creditCode: "91110101MA01BXQ80Y") { name status } }')

    assert queries.counts["market_regulation"] == 1
    assert queries.total == 1


EMPLOYERS_AND_ENTERPRISES = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    idNumber
    socialInsurance { employer { creditCode name } }
    enterprises { creditCode status registeredCapital }
  }
}"""
EMPLOYERS = """
query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber socialInsurance { employer { creditCode name } } } }"""
ENTERPRISES = """
query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber enterprises { creditCode status registeredCapital } } }"""


async def test_one_table_reached_two_ways_in_one_level_is_one_statement_with_each_its_own_values(
    client: httpx.AsyncClient, queries: QueryCounter, demo_dir: Path
) -> None:
    """A person's employer and the enterprises they represent are both enterprises, selected differently."""
    ids = person_ids(demo_dir, 1000)
    live = {**TAX, "Cache-Control": "no-cache"}
    await graphql(client, EMPLOYERS_AND_ENTERPRISES, {"ids": ids[:1]}, live)

    queries.reset()
    together = await graphql(client, EMPLOYERS_AND_ENTERPRISES, {"ids": ids}, live)
    assert "errors" not in together, together["errors"][:3]
    assert queries.counts["market_regulation"] == 2, "the representatives' lookup, then one statement of rows"

    employers = await graphql(client, EMPLOYERS, {"ids": ids}, live)
    enterprises = await graphql(client, ENTERPRISES, {"ids": ids}, live)
    persons = together["data"]["persons"]
    assert [person["socialInsurance"] for person in persons] == [
        person["socialInsurance"] for person in employers["data"]["persons"]
    ]
    assert [person["enterprises"] for person in persons] == [
        person["enterprises"] for person in enterprises["data"]["persons"]
    ]
    assert any(person["enterprises"] for person in persons) and any(
        person["socialInsurance"] and person["socialInsurance"]["employer"] for person in persons
    ), "the corpus reaches both branches"
