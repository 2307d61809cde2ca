"""``govgraph serve``'s workers freeze their start-up heap; an app embedded elsewhere leaves the collector alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from govgraph import Settings, create_app
from govgraph.server import create_served_app


@pytest.fixture
def restored_collector() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.fixture
def served_environment(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVGRAPH_DEMO_DIR", str(demo_dir))
    monkeypatch.setenv("GOVGRAPH_AUDIT_URL", f"sqlite+aiosqlite:///{tmp_path}/audit.db")
    monkeypatch.setenv("GOVGRAPH_AUDIT_SPOOL", str(tmp_path / "spool.jsonl"))


@pytest.mark.usefixtures("restored_collector", "served_environment")
async def test_a_served_worker_freezes_its_start_up_heap() -> None:
    gc.unfreeze()
    app = create_served_app()
    assert gc.get_freeze_count() == 0
    async with LifespanManager(app):
        assert gc.get_freeze_count() > 10_000, (
            "the schema, catalog and modules are out of the collector's walk"
        )


@pytest.mark.usefixtures("restored_collector")
async def test_an_embedded_app_leaves_the_collector_as_it_found_it(demo_dir: Path, tmp_path: Path) -> None:
    gc.unfreeze()
    app = create_app(
        Settings(audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db", audit_spool=tmp_path / "spool.jsonl"),
        environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)},
    )
    async with LifespanManager(app):
        assert gc.get_freeze_count() == 0
