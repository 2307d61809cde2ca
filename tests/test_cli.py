"""The `govgraph` command: catalog check, token, demo generate, cache invalidate."""

from __future__ import annotations

import shutil
from pathlib import Path

import jwt
import pytest

from govgraph.auth.tokens import DEMO_SECRET
from govgraph.cli import main
from govgraph.settings import DEMO_CATALOG


def test_catalog_check_reports_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "check", str(DEMO_CATALOG)]) == 0
    out = capsys.readouterr().out
    assert "catalog ok: 6 departments, 4 entities" in out
    assert "policy ok: 7 roles, 7 purposes" in out
    assert "39 shared fields, 5 not shared" in out


def test_catalog_check_fails_with_the_file_and_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    taxation = catalog / "departments" / "taxation.yaml"
    taxation.write_text(
        taxation.read_text(encoding="utf-8").replace("classification: not_shared", "classification: secret")
    )

    assert main(["catalog", "check", str(catalog)]) == 1
    err = capsys.readouterr().err
    assert "departments/taxation.yaml: entities.Person.fields.bankAccount.classification" in err
    assert "no state secrets" in err


def test_token_prints_a_verifiable_demo_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "token",
                "--role",
                "window_clerk",
                "--purpose",
                "housing-subsidy",
                "--sub",
                "clerk-9",
                "--ttl",
                "60",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, DEMO_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["dept"], claims["roles"], claims["purpose"]) == (
        "clerk-9",
        "government_service_center",
        ["window_clerk"],
        "housing-subsidy",
    )
    assert claims["exp"] - claims["iat"] == 60


def test_token_refuses_unknown_roles_and_purposes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--role", "superuser"]) == 2
    assert "unknown role superuser" in capsys.readouterr().err
    assert main(["token", "--role", "window_clerk", "--purpose", "curiosity"]) == 2
    assert "unknown purpose curiosity" in capsys.readouterr().err


def test_demo_generate_writes_the_city(tmp_path: Path) -> None:
    assert main(["demo", "generate", "--scale", "50", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "MANIFEST.json").exists()
    assert len(list(tmp_path.glob("*.db"))) == 6


def test_cache_invalidate_explains_the_memory_cache(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOVGRAPH_CACHE_URL", raising=False)
    assert main(["cache", "invalidate", "--department", "taxation"]) == 2
    assert "lives inside each server process" in capsys.readouterr().err
    assert main(["cache", "invalidate", "--department", "nowhere"]) == 2
    assert "unknown department nowhere" in capsys.readouterr().err


def test_catalog_check_takes_an_api_department(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, catalog)
    shutil.copy(
        Path(__file__).parents[1] / "govgraph" / "demo" / "apis" / "taxation.yaml", catalog / "departments"
    )
    assert main(["catalog", "check", str(catalog)]) == 0
    assert "catalog ok: 6 departments" in capsys.readouterr().out


def test_demo_api_serves_a_department_behind_its_token(demo_dir: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.servers import free_port

    port = free_port()
    environ = {**os.environ, "DEMO_API_TOKEN": "cli-test-token"}
    command = [sys.executable, "-m", "govgraph.cli", "demo", "api", "--department", "taxation"]
    command += ["--dir", str(demo_dir), "--port", str(port), "--token-env", "DEMO_API_TOKEN"]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/individual_taxpayers/taxpayer_id_no"
    try:
        for _ in range(200):
            try:
                refused = httpx.post(url, json={"keys": ["110101199003071233"]})
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.05)
        else:
            raise AssertionError("govgraph demo api did not start")
        assert refused.status_code == 401
        answered = httpx.post(
            url, json={"keys": ["110101199003071233"]}, headers={"Authorization": "Bearer cli-test-token"}
        )
        (record,) = answered.json()["data"]
        assert record["id"] == "110101199003071233"
        assert record["attributes"]["annual_income"] == 186000
        assert record["attributes"]["tax_compliant"] is True
        assert "bank_account" not in record["attributes"], "what is never shared never leaves the department"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
