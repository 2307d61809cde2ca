"""``govgraph serve``'s workers freeze their start-up heap and collect the youngest generation less often,
still collecting what becomes cyclic garbage; an app embedded elsewhere leaves the collector alone."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from govgraph import Settings, create_app
from govgraph.http.collector import YOUNG_THRESHOLD
from govgraph.server import create_served_app


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


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
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_collector")
async def test_an_embedded_app_leaves_the_collector_as_it_found_it(demo_dir: Path, tmp_path: Path) -> None:
    gc.unfreeze()
    app = create_app(
        Settings(audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db", audit_spool=tmp_path / "spool.jsonl"),
        environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)},
    )
    threshold = gc.get_threshold()
    async with LifespanManager(app):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold


def test_a_settled_process_still_collects_cyclic_garbage_within_its_threshold() -> None:
    program = textwrap.dedent(
        """
        import gc, weakref
        from govgraph.http import collector

        class Node:
            pass

        alive = weakref.WeakSet()
        collector.settle()
        most = 0
        for _ in range(50_000):
            first, second = Node(), Node()
            first.other, second.other = second, first  # a cycle, garbage at once
            alive.add(first)
            most = max(most, len(alive))
        print(gc.get_threshold()[0], most, len(alive))
        """
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    threshold, most, left = map(int, finished.stdout.split())
    assert threshold == YOUNG_THRESHOLD
    assert 700 < most <= YOUNG_THRESHOLD, "collected less often than by default, yet collected"
    assert left < most
