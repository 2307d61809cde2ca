"""A plan whose reads are all in one level starts its audit commit before projecting its rows, and still
releases nothing before the commit: what it withholds when the store fails is exactly what the general
path withholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app
from govgraph.audit.store import AuditFilter
from govgraph.plan import run as plan_run
from tests.auth_helpers import bearer

LIST = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { idNumber name annualIncome } }"
TWO_LEVELS = "query($ids: [IdNumber!]!) { persons(idNumbers: $ids) { name household { householdId } } }"
OFFICER = bearer("tax_officer", "tax-audit")


async def person_ids(demo_dir: Path, count: int) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{demo_dir / 'public_security.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT resident_id FROM residents ORDER BY resident_id LIMIT :n"), {"n": count}
        )
        return [row[0] for row in rows]


async def answered(client: httpx.AsyncClient, query: str, ids: list[str]) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"ids": ids}}, headers=OFFICER
    )
    body = orjson.loads(response.content)
    assert response.status_code == 200 and "errors" not in body, response.text[:500]
    return body["data"]  # type: ignore[no-any-return]


class Watch:
    """Counts projected objects, and what that count was each time a commit began and ended."""

    def __init__(self, app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
        self.projected = 0
        self.at_commit: list[int] = []
        self.committed_at: list[int] = []
        original_project = plan_run._Runner._project
        writer = app.state.audit_writer
        original_commit = writer.commit

        def project(runner: Any, *arguments: Any) -> Any:
            self.projected += 1
            return original_project(runner, *arguments)

        async def commit(record: Any) -> None:
            self.at_commit.append(self.projected)
            await original_commit(record)
            self.committed_at.append(self.projected)

        monkeypatch.setattr(plan_run._Runner, "_project", project)
        monkeypatch.setattr(writer, "commit", commit)


async def test_a_one_level_list_commits_while_its_rows_are_projected(
    served: tuple[Starlette, httpx.AsyncClient], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    ids = await person_ids(demo_dir, 300)
    watch = Watch(app, monkeypatch)
    assert len((await answered(client, LIST, ids))["persons"]) == 300
    [began] = watch.at_commit
    assert began < 300, "the commit began while the rows were being projected"
    assert began <= watch.committed_at[0] <= 300
    await app.state.audit_writer.flush()
    [stored] = await app.state.audit_store.query(AuditFilter(), 5, None)
    assert set(stored.record.entities[0].keys) == set(ids)


async def test_a_plan_reading_in_two_levels_commits_after_projecting(
    served: tuple[Starlette, httpx.AsyncClient], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = served
    ids = await person_ids(demo_dir, 50)
    watch = Watch(app, monkeypatch)
    await answered(client, TWO_LEVELS, ids)
    assert watch.at_commit == [watch.projected], "a later level may read more: the record waits for it"


async def test_an_early_commit_that_fails_withholds_every_protected_value(
    demo_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(
        audit_url="postgresql+asyncpg://postgres@127.0.0.1:9/nowhere",
        audit_spool=tmp_path / "spool.jsonl",
        audit_timeout=1,
    )
    app = create_app(settings, environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    ids = await person_ids(demo_dir, 300)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.post(
            "/graphql", json={"query": LIST, "variables": {"ids": ids}}, headers=OFFICER
        )
    body = orjson.loads(response.content)
    persons = body["data"]["persons"]
    assert [person["idNumber"] for person in persons] == ids, "internal values are still served"
    assert all(person["annualIncome"] is None for person in persons)
    withheld = [error for error in body["errors"] if error["extensions"]["code"] == "AUDIT_UNAVAILABLE"]
    assert sorted(tuple(error["path"]) for error in withheld) == sorted(
        ("persons", index, "annualIncome") for index in range(300)
    )
    text = response.text
    assert text.count('"annualIncome":') == text.count('"annualIncome":null') == 300, "no income left"
