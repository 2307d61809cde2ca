"""What the plan tests share: the app over the demo city, with a SQLite audit store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app


@pytest.fixture
async def served(demo_dir: Path, tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    settings = Settings(
        audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit.db", audit_spool=tmp_path / "spool.jsonl"
    )
    app = create_app(settings, environ={"GOVGRAPH_DEMO_DIR": str(demo_dir)})
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield app, client
