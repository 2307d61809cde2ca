"""policy.yaml is validated at load: every mistake names the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from govgraph.auth.decisions import Authorizer
from govgraph.auth.policy import OPERATIONS, load_policy
from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.catalog.loader import load_catalog
from govgraph.errors import PolicyError
from govgraph.settings import DEMO_CATALOG


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(DEMO_CATALOG, env={})


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    target = tmp_path / "policy.yaml"
    shutil.copy(DEMO_CATALOG / "policy.yaml", target)
    return target


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_demo_policy_loads(catalog) -> None:  # type: ignore[no-untyped-def]
    policy = load_policy(DEMO_CATALOG, catalog)
    assert set(policy.roles) == {
        "window_clerk",
        "tax_officer",
        "civil_affairs_officer",
        "pension_officer",
        "police_officer",
        "auditor",
        "citizen",
    }
    clerk_income = [
        grant for grant in policy.roles["window_clerk"].grants if "Person.annualIncome" in grant.coordinates
    ]
    assert [(grant.mode, sorted(grant.purposes or ())) for grant in clerk_income] == [
        ("verify", ["housing-subsidy"])
    ]
    assert "Property.owners" in policy.roles["tax_officer"].grants[0].coordinates, "Property.* expands"


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [
        (
            "          - Person.maritalStatus\n          - Person.spouse",
            "          - Person.maritalStatu\n          - Person.spouse",
            "roles.window_clerk.grants[0].fields[0]",
            "unknown field Person.maritalStatu",
        ),
        (
            "      - fields: [Person.annualIncome]\n        mode: verify\n        purposes: [housing-subsidy]",
            "      - fields: [Person.socialInsurance]\n        mode: verify\n        purposes: [housing-subsidy]",
            "roles.window_clerk.grants[1].fields[0]",
            "cannot be compared",
        ),
        (
            "[Person.registeredAddress, Household.address, Property.address]\n        mode: mask",
            "[Person.maritalStatus]\n        mode: mask",
            "roles.window_clerk.grants[2].fields[0]",
            "has no mask",
        ),
        (
            "purposes: [tax-audit]",
            "purposes: [tax-evasion-hunt]",
            "roles.tax_officer.grants[0].purposes",
            "unknown purpose tax-evasion-hunt",
        ),
        (
            "      - fields: [Query.auditLog, Query.usage]\n        mode: read",
            "      - fields: [Query.auditLog, Query.usage]\n        mode: mask",
            "roles.auditor.grants[0].fields[0]",
            "only mode read",
        ),
        ("        mode: verify\n", "        mode: peek\n", "roles.window_clerk.grants.1.mode", "'read'"),
    ],
)
def test_mistakes_name_the_file_and_entry(
    catalog, policy_file: Path, old: str, new: str, entry: str, problem: str
) -> None:  # type: ignore[no-untyped-def]
    replace(policy_file, old, new)
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_file, catalog)
    message = str(caught.value)
    assert "policy.yaml" in message
    assert entry in message
    assert problem in message


def test_bad_yaml_is_an_error(catalog, policy_file: Path) -> None:  # type: ignore[no-untyped-def]
    policy_file.write_text("roles: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="invalid YAML"):
        load_policy(policy_file, catalog)


def principal(role: str, department: str | None, purpose: str | None) -> Principal:
    return Principal("someone", department, (role,), purpose, True)


def test_decisions(catalog) -> None:  # type: ignore[no-untyped-def]
    authorizer = Authorizer(catalog, load_policy(DEMO_CATALOG, catalog), OPERATIONS)
    clerk = principal("window_clerk", "government_service_center", "housing-subsidy")
    assert authorizer.decide(clerk, "Person.annualIncome").access == "verify"
    assert authorizer.decide(clerk, "Person.registeredAddress").access == "mask"
    assert authorizer.decide(clerk, "Person.name").access == "read"
    assert authorizer.decide(clerk, "Enterprise.taxArrears").reason == "no grant for role window_clerk"
    assert authorizer.decide(clerk, "Query.auditLog").access == "deny"
    assert authorizer.decide(ANONYMOUS, "Enterprise.name").access == "read"
    assert authorizer.decide(ANONYMOUS, "Person.name").reason == "authentication required"
    impostor = principal("tax_officer", "government_service_center", "tax-audit")
    assert authorizer.decide(impostor, "Person.annualIncome").reason == (
        "no effective role: tax_officer not held in department government_service_center"
    )
    auditor = principal("auditor", "audit_office", "oversight")
    assert authorizer.decide(auditor, "Query.auditLog").access == "read"
    citizen = principal("citizen", None, None)
    assert authorizer.decide(citizen, "Person.name").access == "deny"
    assert authorizer.decide(citizen, "Query.myAccessLog").access == "read"
