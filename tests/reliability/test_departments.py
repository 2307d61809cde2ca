"""A department that hangs mid-connection costs only its own fields, opens its circuit, and heals."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from govgraph.demo.layout import DEPARTMENTS
from govgraph.settings import DEMO_CATALOG
from tests.auth_helpers import bearer
from tests.faults import tcp_proxy
from tests.reliability.conftest import GENEROUS
from tests.servers import govgraph_server

ZHANG_WEI = "110101199003071233"
QUERY = {"query": f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus annualIncome }} }}'}
TAX = {**bearer("tax_officer", "tax-audit"), "Cache-Control": "no-cache"}


def test_a_paused_department_fails_alone_opens_its_circuit_and_heals(
    postgres_city: str, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    taxation = catalog / "departments" / "taxation.yaml"
    taxation.write_text(
        taxation.read_text(encoding="utf-8").replace("timeout: 2.0", "timeout: 0.5"), encoding="utf-8"
    )
    direct = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{postgres_city}"
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        environ = {
            **GENEROUS,
            **{f"GOVGRAPH_{department.upper()}_URL": direct for department in DEPARTMENTS},
            "GOVGRAPH_TAXATION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{postgres_city}",
            "GOVGRAPH_CATALOG": str(catalog),
            "GOVGRAPH_AUDIT_URL": f"sqlite+aiosqlite:///{tmp_path}/audit.db",
            "GOVGRAPH_BREAKER_FAILURES": "3",
            "GOVGRAPH_BREAKER_COOL_DOWN": "1",
        }
        with govgraph_server(environ, tmp_path) as server:
            url = f"{server.url}/graphql"
            warm = httpx.post(url, json=QUERY, headers=TAX, timeout=30).json()
            assert warm["data"]["person"]["annualIncome"] == 186000

            proxy.pause()
            reasons = []
            for _ in range(5):
                body = httpx.post(url, json=QUERY, headers=TAX, timeout=30).json()
                assert (
                    body["data"]["person"]["name"] == "张伟"
                    and body["data"]["person"]["maritalStatus"] == "married"
                )
                assert body["data"]["person"]["annualIncome"] is None
                [error] = body["errors"]
                assert error["extensions"] == {"code": "SOURCE_UNAVAILABLE", "department": "taxation"}
                reasons.append(error["message"])
            assert reasons[:3] == ["department taxation is timed out"] * 3
            assert reasons[3:] == ["department taxation is circuit open"] * 2

            proxy.resume()
            healed = None
            for _ in range(40):
                body = httpx.post(url, json=QUERY, headers=TAX, timeout=30).json()
                if body["data"]["person"]["annualIncome"] == 186000:
                    healed = body
                    break
                time.sleep(0.25)
            assert healed is not None and "errors" not in healed
