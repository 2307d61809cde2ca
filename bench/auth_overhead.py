"""Authorization overhead: the same 1000-person query as tax_officer and with authorization off.

Decisions are made once per operation, so the ratio should stay near 1
(target: at most 1.15). Per-object permission classes cost about +80% on
such a query. Both apps write to an audit store of their own; with
authorization off nothing is decided, so nothing is audited, and the
ratio also shows what the audit trail costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from bench.common import demo_city, side_by_side
from govgraph import Settings, create_app
from govgraph.auth.tokens import DEMO_SECRET, issue_token

QUERY = """
query($ids: [IdNumber!]!) {
  persons(idNumbers: $ids) {
    idNumber name gender birthDate maritalStatus annualIncome taxCompliant
    socialInsurance { contributionMonths lastPaidMonth }
  }
}"""
TARGET = 1.15


async def run(rounds: int = 15) -> dict[str, float]:
    directory = demo_city(scale=2000)
    with sqlite3.connect(directory / "public_security.db") as connection:
        ids = [row[0] for row in connection.execute("SELECT resident_id FROM residents LIMIT 1000")]
    token = issue_token(
        DEMO_SECRET, subject="bench", roles=["tax_officer"], department="taxation", purpose="tax-audit"
    )
    environ = {"GOVGRAPH_DEMO_DIR": str(directory)}
    scratch = Path(tempfile.mkdtemp(prefix="govgraph-bench-audit-"))

    def settings(name: str, **options: object) -> Settings:
        return Settings(
            audit_url=f"sqlite+aiosqlite:///{scratch}/{name}.db",
            audit_spool=scratch / f"{name}.jsonl",
            **options,
        )

    guarded = create_app(settings("guarded"), environ=environ)
    open_ = create_app(settings("open", authorization=False), environ=environ)
    async with LifespanManager(guarded), LifespanManager(open_):
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            for name, app in (("authorized", guarded), ("unguarded", open_))
        }

        def request(name: str):  # type: ignore[no-untyped-def]
            async def send() -> None:
                response = await clients[name].post(
                    "/graphql",
                    json={"query": QUERY, "variables": {"ids": ids}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = response.json()
                assert "errors" not in body and len(body["data"]["persons"]) == 1000, response.text[:300]

            return send

        medians = await side_by_side({name: request(name) for name in clients}, rounds)
        for client in clients.values():
            await client.aclose()
    ratio = medians["authorized"] / medians["unguarded"]
    print("auth_overhead: 1000-person query, tax_officer vs authorization off")
    print(f"  authorized  {medians['authorized'] * 1000:8.1f} ms (median of {rounds})")
    print(f"  unguarded   {medians['unguarded'] * 1000:8.1f} ms")
    print(f"  ratio       {ratio:8.2f}  (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return {"ratio": ratio}


if __name__ == "__main__":
    asyncio.run(run())
