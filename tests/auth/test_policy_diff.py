"""``govgraph policy diff``: every gain and loss of access between two policies, and exit 1 when access widens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from govgraph.cli import main
from govgraph.settings import DEMO_CATALOG

DEMO_POLICY = DEMO_CATALOG / "policy.yaml"


def policy(tmp_path: Path, name: str, change: Any = None) -> Path:
    document = yaml.safe_load(DEMO_POLICY.read_text(encoding="utf-8"))
    if change is not None:
        change(document)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def grants(document: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return document["roles"][role]["grants"]


def run(old: Path, new: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(["policy", "diff", str(old), str(new)])
    return status, capsys.readouterr().out.splitlines()


def test_the_same_policy_is_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(policy(tmp_path, "old"), policy(tmp_path, "new"), capsys) == (0, ["no change"])


def test_verify_becoming_read_widens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def read_income(document: dict[str, Any]) -> None:
        for grant in grants(document, "window_clerk"):
            if grant["fields"] == ["Person.annualIncome"]:
                grant["mode"] = "read"

    status, lines = run(policy(tmp_path, "old"), policy(tmp_path, "new", read_income), capsys)
    assert status == 1
    assert "+ window_clerk: Person.annualIncome for housing-subsidy: verify -> read" in lines
    assert lines[-1] == "1 widening, 0 narrowing; access widens"


def test_a_grant_dropped_or_narrowed_only_narrows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def narrower(document: dict[str, Any]) -> None:
        for grant in grants(document, "tax_officer"):
            if "Person.annualIncome" in grant["fields"]:
                grant["fields"].remove("Person.annualIncome")
        for grant in grants(document, "window_clerk"):
            if grant["mode"] == "mask":
                grant["purposes"] = ["housing-subsidy"]  # no longer for business-startup

    status, lines = run(policy(tmp_path, "old"), policy(tmp_path, "new", narrower), capsys)
    assert status == 0
    assert "- tax_officer: Person.annualIncome for tax-audit: read -> none" in lines
    assert "- window_clerk: Person.registeredAddress for business-startup: mask -> none" in lines
    assert all(line.startswith("- ") for line in lines[:-1]) and lines[-1].endswith("no access widens")


def test_a_new_purpose_a_new_role_and_a_grant_for_any_purpose_widen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def wider(document: dict[str, Any]) -> None:
        grants(document, "civil_affairs_officer")[0]["purposes"].append("tax-audit")
        grants(document, "police_officer").append({"fields": ["Person.taxCompliant"], "mode": "read"})
        document["roles"]["housing_inspector"] = {
            "department": "government_service_center",
            "grants": [{"fields": ["Property.mortgaged"], "mode": "read", "purposes": ["housing-subsidy"]}],
        }

    status, lines = run(policy(tmp_path, "old"), policy(tmp_path, "new", wider), capsys)
    assert status == 1
    assert any(
        line.startswith("+ civil_affairs_officer: ") and "for tax-audit: none -> " in line for line in lines
    )
    assert "+ police_officer: Person.taxCompliant for (any purpose): none -> read" in lines
    assert "+ housing_inspector: role added" in lines
    assert "+ housing_inspector: Property.mortgaged for housing-subsidy: none -> read" in lines


def test_a_role_moved_to_another_department_or_allowed_to_bypass_the_cache_widens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def moved(document: dict[str, Any]) -> None:
        document["roles"]["window_clerk"]["department"] = "taxation"
        document["roles"]["window_clerk"]["cache_bypass"] = True

    status, lines = run(policy(tmp_path, "old"), policy(tmp_path, "new", moved), capsys)
    assert status == 1
    assert "+ window_clerk: department: government_service_center -> taxation" in lines
    assert "+ window_clerk: cache_bypass: False -> True" in lines


def test_lifting_an_embargo_widens_and_adding_one_narrows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def embargoed(document: dict[str, Any]) -> None:
        document["embargoes"] = [{"purpose": "tax-audit", "until": "2027-06-30"}]

    without, with_embargo = policy(tmp_path, "without"), policy(tmp_path, "with", embargoed)
    assert run(without, with_embargo, capsys)[0] == 0
    status, lines = run(with_embargo, without, capsys)
    assert status == 1 and "+ citizen: embargo on tax-audit: 2027-06-30 -> none" in lines


def test_a_broken_policy_is_named_with_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(document: dict[str, Any]) -> None:
        grants(document, "window_clerk")[0]["fields"].append("Person.noSuchField")

    status = main(["policy", "diff", str(policy(tmp_path, "old")), str(policy(tmp_path, "new", broken))])
    error = capsys.readouterr().err
    assert status == 2
    assert "new.yaml" in error and "Person.noSuchField" in error and "Traceback" not in error
