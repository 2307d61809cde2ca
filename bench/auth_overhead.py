"""Authorization overhead: the same 1000-person query as tax_officer and with authorization off.

Decisions are made once per operation, so the ratio should stay near 1
(target: at most 1.15). Per-object permission classes cost about +80% on
such a query. Three variants run side by side:

- authorized: decisions, masks, and the durable audit record committed
  before the response (1000 keys indexed);
- authorized, audit aside: the same app with its audit writer detached,
  so the ratio shows authorization alone, which is what the target is for;
- unguarded: authorization off (nothing decided, so nothing audited).
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
    decisions_only = create_app(settings("decisions"), environ=environ)
    open_ = create_app(settings("open", authorization=False), environ=environ)
    async with LifespanManager(guarded), LifespanManager(decisions_only), LifespanManager(open_):
        decisions_only.state.audit_writer = None
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            for name, app in (("authorized", guarded), ("audit aside", decisions_only), ("unguarded", open_))
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
    ratio = medians["audit aside"] / medians["unguarded"]
    with_audit = medians["authorized"] / medians["unguarded"]
    print("auth_overhead: 1000-person query, tax_officer vs authorization off")
    print(f"  authorized + audit   {medians['authorized'] * 1000:8.1f} ms (median of {rounds})")
    print(f"  authorized           {medians['audit aside'] * 1000:8.1f} ms")
    print(f"  unguarded            {medians['unguarded'] * 1000:8.1f} ms")
    print(
        f"  authorization ratio  {ratio:8.2f}  (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER TARGET'}"
    )
    print(
        f"  with durable audit   {with_audit:8.2f}  (informational: the audit commit is principle 4, not authorization)"
    )
    return {"ratio": ratio, "with_audit": with_audit}


if __name__ == "__main__":
    asyncio.run(run())
