"""Department APIs for tests: real Starlette apps served by uvicorn on a free port, in a thread of this process."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from govgraph.demo.golden import EXAMPLE_TECH, LI_NA, OLD_TOWN_TRADING, WANG_JIANGUO, ZHANG_WEI
from govgraph.settings import DEMO_CATALOG
from tests.auth_helpers import bearer
from tests.servers import free_port

STARTUP_POLLS = 400
CHANGES_SECRET = "whsec_dGVzdHMtb25seS1jaGFuZ2VzLXNlY3JldC0wMTIzNDU2Nzg5"
"""The taxation API's changes secret (``GOVGRAPH_TAXATION_CHANGES_SECRET``): for tests only."""

# Queries over the demo's taxation department, for whichever source serves it: each must answer as over its
# database (values, masks, bands, yes/no answers, denials).
TAX = {**bearer("tax_officer", "tax-audit"), "Cache-Control": "no-cache"}
CLERK = bearer("window_clerk", "housing-subsidy")

CORPUS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        """query($id: IdNumber!) { person(idNumber: $id) {
            name annualIncome taxCompliant annualIncomeBand spouse { annualIncome taxCompliant }
            enterprises { name taxCreditRating taxArrears } } }""",
        {"id": ZHANG_WEI},
        TAX,
    ),
    (
        """query($id: IdNumber!) { person(idNumber: $id) { annualIncome taxCompliant } }""",
        {"id": WANG_JIANGUO},
        TAX,
    ),
    (
        """query($codes: [CreditCode!]!) { enterprises(creditCodes: $codes) { name taxCreditRating taxArrears } }""",
        {"codes": [EXAMPLE_TECH, OLD_TOWN_TRADING]},
        TAX,
    ),
    (
        """query($id: IdNumber!) { person(idNumber: $id) {
            name annualIncome verify { low: annualIncome(lt: 200000) high: annualIncome(gte: 200000) } } }""",
        {"id": LI_NA},
        CLERK,
    ),
]


class Counted:
    """Counts the requests that reach the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0
        self.methods: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
            self.methods.append(scope["method"])
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
