"""A protection undone through another field: one category masked in one place and read in full in another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from govgraph.auth.exposure import find_exposures
from govgraph.auth.policy import load_policy
from govgraph.catalog.loader import load_catalog
from govgraph.cli import main
from govgraph.settings import DEMO_CATALOG

HEADER = """
purposes:
  housing-subsidy: {zh: 住房, en: Housing}
  tax-audit: {zh: 稽查, en: Audit}
roles:
"""


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(DEMO_CATALOG, env={})


def exposures(catalog, tmp_path: Path, roles: str) -> list[tuple[str, str | None, str, str]]:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.yaml"
    path.write_text(HEADER + roles, encoding="utf-8")
    return [
        (item.role, item.purpose, item.protected, item.exposed)
        for item in find_exposures(catalog, load_policy(path, catalog))
    ]


def test_the_demo_policy_masks_addresses_everywhere(catalog) -> None:  # type: ignore[no-untyped-def]
    assert find_exposures(catalog, load_policy(DEMO_CATALOG, catalog)) == []


def test_a_masked_address_read_in_full_through_properties_is_found(catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    found = exposures(
        catalog,
        tmp_path,
        """
  clerk:
    department: government_service_center
    grants:
      - {fields: [Person.registeredAddress], mode: mask, purposes: [housing-subsidy]}
      - {fields: [Person.properties, Property.*], mode: read, purposes: [housing-subsidy]}
""",
    )
    assert found == [("clerk", "housing-subsidy", "Person.registeredAddress", "Property.address")]


def test_verify_only_income_is_not_undone_by_other_categories(catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    roles = """
  officer:
    department: civil_affairs
    grants:
      - {fields: [Person.annualIncome], mode: verify, purposes: [housing-subsidy]}
      - {fields: [Person.maritalStatus, Person.properties, Property.*], mode: read, purposes: [housing-subsidy]}
"""
    assert exposures(catalog, tmp_path, roles) == []


def test_only_fields_the_role_can_reach_count(catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Property.address read in full is harmless when the role cannot reach a property from a person."""
    roles = """
  clerk:
    department: government_service_center
    grants:
      - {fields: [Person.registeredAddress], mode: mask, purposes: [housing-subsidy]}
      - {fields: [Property.*], mode: read, purposes: [housing-subsidy]}
"""
    found = exposures(catalog, tmp_path, roles)
    # From a Property the owners lead to a Person and so to the masked registered address.
    assert found == [("clerk", "housing-subsidy", "Person.registeredAddress", "Property.address")]
    unreachable = roles.replace("[Property.*]", "[Property.address, Property.area]")
    assert exposures(catalog, tmp_path, unreachable) == []


def test_purposes_are_judged_apart(catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    roles = """
  officer:
    department: taxation
    grants:
      - {fields: [Person.registeredAddress], mode: mask, purposes: [housing-subsidy]}
      - {fields: [Person.properties, Property.*], mode: read, purposes: [tax-audit]}
"""
    assert exposures(catalog, tmp_path, roles) == []
    both = roles.replace("purposes: [tax-audit]", "purposes: [tax-audit, housing-subsidy]")
    assert exposures(catalog, tmp_path, both) == [
        ("officer", "housing-subsidy", "Person.registeredAddress", "Property.address")
    ]


def test_catalog_check_prints_the_warning_naming_the_role_and_both_coordinates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, directory)
    policy = directory / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(
        text.replace(
            "          - Property.certificateNo\n",
            "          - Property.address\n          - Property.certificateNo\n",
            1,
        ).replace(
            "[Person.registeredAddress, Household.address, Property.address]",
            "[Person.registeredAddress, Household.address]",
        ),
        encoding="utf-8",
    )

    assert main(["catalog", "check", str(directory)]) == 0
    out = capsys.readouterr().out
    assert (
        "warning: role window_clerk for housing-subsidy: address data is masked in Person.registeredAddress "
        "but read in full in Property.address" in out
    )
    assert main(["catalog", "check", "--strict", str(directory)]) == 1
