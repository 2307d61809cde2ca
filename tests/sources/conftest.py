"""Apps of a test's own on the SQLite demo city, for tests that point one department at a service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from govgraph import Settings, create_app
from tests.conftest import AppFactory


@pytest.fixture
async def sqlite_apps(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Apps of the test's own, every one on the SQLite demo city but for the department it points elsewhere."""
    async with AsyncExitStack() as stack:

        async def start(environ: dict[str, str], **options: Any) -> tuple[Starlette, httpx.AsyncClient]:
            name = uuid.uuid4().hex[:8]
            settings = Settings(
                audit_url=f"sqlite+aiosqlite:///{tmp_path}/audit-{name}.db",
                audit_spool=tmp_path / f"{name}.jsonl",
                **options,
            )
            application = create_app(settings, environ=environ)
            await stack.enter_async_context(LifespanManager(application))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://govgraph.test"
                )
            )
            return application, client

        yield start
