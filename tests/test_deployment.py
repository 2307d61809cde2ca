"""The production compose file is a real production set-up, and the image runs as a user of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from govgraph.settings import Settings

ROOT = Path(__file__).parents[1]
PRODUCTION = ROOT / "docker-compose.yml"
DEMO = ROOT / "docker-compose.demo.yml"
EXAMPLE = ROOT / "deploy" / "production.env.example"


def example_environment() -> dict[str, str]:
    """The example's values, with the blanks filled as an operator would."""
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value or (
                "postgresql+asyncpg://reader:secret@db.example:5432/registry"
                if name.endswith("_URL")
                else "s3cret"
            )
    return values


def interpolate(value: Any, environment: dict[str, str]) -> Any:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3) or ""
        if environment.get(name):
            return environment[name]
        if operator == ":?":
            raise KeyError(f"{name}: {rest}")
        return rest

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def govgraph_service() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))["services"]["govgraph"]


def test_govgraph_runs_in_production_mode_with_shared_state_and_several_workers() -> None:
    service = govgraph_service()
    environment = service["environment"]
    assert environment["GOVGRAPH_ENVIRONMENT"] == "production"
    assert environment["GOVGRAPH_CACHE_URL"].startswith("redis://")
    assert environment["GOVGRAPH_RATE_LIMIT_URL"].startswith("redis://")
    assert environment["GOVGRAPH_CACHE_LISTEN"] == "true"
    assert environment["GOVGRAPH_AUDIT_URL"].startswith("postgresql+asyncpg://")
    workers = interpolate(service["command"][service["command"].index("--workers") + 1], {})
    assert int(workers) > 1
    assert service["read_only"] is True, "the only writes go to the spool volume"


def test_its_environment_is_accepted_by_govgraph_s_production_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = example_environment()
    for name, raw in govgraph_service()["environment"].items():
        monkeypatch.setenv(name, str(interpolate(raw, values)))
    settings = Settings()
    assert settings.environment == "production"
    assert settings.jwt_jwks_url and settings.jwt_jwks_url.startswith("https://")
    assert settings.jwt_issuer and settings.jwt_audience
    assert str(settings.audit_spool).startswith("/var/lib/govgraph/")


def test_every_service_has_a_health_check_and_govgraph_waits_for_them() -> None:
    services = yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert govgraph_service()["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert "/readyz" in " ".join(govgraph_service()["healthcheck"]["test"])


def test_nothing_in_the_production_file_is_a_secret_or_a_demo_default() -> None:
    text = PRODUCTION.read_text(encoding="utf-8")
    assert "govgraph_demo" not in text and "demo load" not in text
    assert not re.search(r"PASSWORD: (?!\$\{)", text), "passwords come from the environment"
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))["services"]
    assert "demo" in demo and "GOVGRAPH_ENVIRONMENT" not in demo["govgraph"].get("environment", {})


def compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(
    compose_command() is None, reason="neither `docker compose` nor Debian's docker-compose here"
)
def test_compose_accepts_both_files_and_names_what_is_missing(tmp_path: Path) -> None:
    command = compose_command()
    assert command is not None
    base = {
        name: value for name, value in os.environ.items() if not name.startswith(("GOVGRAPH_", "POSTGRES_"))
    }
    filled = {**base, **example_environment()}
    checked = subprocess.run(
        [*command, "-f", str(PRODUCTION), "config", "-q"],
        env=filled,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    demo = subprocess.run(
        [*command, "-f", str(DEMO), "config", "-q"], env=base, capture_output=True, text=True, check=False
    )
    assert demo.returncode == 0, demo.stderr
    missing = {name: value for name, value in filled.items() if name != "GOVGRAPH_JWT_JWKS_URL"}
    refused = subprocess.run(
        [*command, "-f", str(PRODUCTION), "config", "-q"],
        env=missing,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "JWKS" in refused.stderr


def test_the_image_runs_as_its_own_user_with_writable_spool_and_logs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "chown govgraph:govgraph /var/lib/govgraph /var/log/govgraph" in dockerfile
    assert "ENV GOVGRAPH_AUDIT_SPOOL=/var/lib/govgraph/" in dockerfile
