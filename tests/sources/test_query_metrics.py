"""``/metrics`` counts the statements each department was sent, as the sources themselves count them."""

from __future__ import annotations

import re

from tests.auth_helpers import bearer
from tests.conftest import AppFactory

ZHANG_WEI = "110101199003071233"
QUERY = "query($id: IdNumber!) { person(idNumber: $id) { name annualIncome maritalStatus } }"


def scraped(text: str) -> dict[str, int]:
    return {
        department: int(float(value))
        for department, value in re.findall(
            r'^govgraph_department_queries_total\{department="(\w+)"\} (\S+)$', text, re.MULTILINE
        )
    }


async def test_each_departments_statements_are_counted(app_factory: AppFactory) -> None:
    app, client = await app_factory()
    before = scraped((await client.get("/metrics")).text)
    assert set(before) == set(app.state.sources)

    headers = {**bearer("tax_officer", "tax-audit"), "Cache-Control": "no-cache"}
    body = (
        await client.post("/graphql", json={"query": QUERY, "variables": {"id": ZHANG_WEI}}, headers=headers)
    ).json()
    assert body["data"]["person"]["annualIncome"] == 186000

    after = scraped((await client.get("/metrics")).text)
    grown = {department: after[department] - before[department] for department in after}
    assert grown == {
        department: 1 if department in ("public_security", "taxation", "civil_affairs") else 0
        for department in app.state.sources
    }
    assert after == {department: source.queries for department, source in app.state.sources.items()}
