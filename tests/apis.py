"""Department APIs for tests: real Starlette apps served by uvicorn on a free port, in a thread of this process."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.settings import DEMO_CATALOG
from tests.servers import free_port

STARTUP_POLLS = 400


class Counted:
    """Counts the requests that reach the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """The app on 127.0.0.1 at a free port, until the block ends: its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(STARTUP_POLLS):
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("the test API did not start")
        time.sleep(0.025)
    else:
        raise RuntimeError("the test API did not start in time")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def catalog_with(directory: Path, department_file: Path, replaced: str) -> Path:
    """A copy of the demo catalog with one department's file replaced: its directory."""
    catalog = directory / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    shutil.copy(department_file, catalog / "departments" / f"{replaced}.yaml")
    return catalog
