"""Catalog loading: the demo loads, and each kind of mistake gets its clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from govgraph.catalog.loader import load_catalog
from govgraph.demo.layout import DEPARTMENTS
from govgraph.errors import CatalogError
from govgraph.settings import DEMO_CATALOG


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(DEMO_CATALOG, directory)
    return directory


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_demo_catalog_loads_with_metadata_on_every_field() -> None:
    catalog = load_catalog(DEMO_CATALOG, env={})

    assert set(catalog.departments) == set(DEPARTMENTS)
    income = catalog.field("Person.annualIncome")
    assert (income.department, income.classification, income.frequency, income.ttl) == (
        "taxation",
        "sensitive",
        "monthly",
        30 * 86400,
    )
    assert catalog.field("Enterprise.name").ttl is None
    assert catalog.field("Person.subsistenceAllowance").frequency == "monthly"
    assert catalog.entities["Person"].home_department == "public_security"
    assert "Person.criminalRecord" in catalog.hidden
    assert "criminalRecord" not in catalog.entities["Person"].fields


def test_source_urls_interpolate_environment_with_nested_defaults() -> None:
    catalog = load_catalog(DEMO_CATALOG, env={"GOVGRAPH_DEMO_DIR": "/data/demo"})
    assert catalog.departments["taxation"].source.url == "sqlite+aiosqlite:////data/demo/taxation.db"
    assert catalog.departments["taxation"].source.db_schema is None

    postgres = load_catalog(DEMO_CATALOG, env={"GOVGRAPH_TAXATION_URL": "postgresql+asyncpg://db/city"})
    assert postgres.departments["taxation"].source.url == "postgresql+asyncpg://db/city"
    assert postgres.departments["taxation"].source.db_schema == "taxation"


def test_secret_field_is_refused(catalog_dir: Path) -> None:
    edit(catalog_dir / "departments/taxation.yaml", "classification: not_shared", "classification: secret")

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "departments/taxation.yaml" in message
    assert "entities.Person.fields.bankAccount.classification" in message
    assert "the sharing system carries no state secrets" in message


def test_two_departments_claiming_one_field_is_an_error(catalog_dir: Path) -> None:
    edit(catalog_dir / "departments/taxation.yaml", "      taxCompliant:", "      maritalStatus:")

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "taxation.yaml" in message
    assert "entities.Person.fields.maritalStatus" in message
    assert "Person.maritalStatus is already provided by department civil_affairs" in message


def test_unknown_type_is_an_error(catalog_dir: Path) -> None:
    edit(catalog_dir / "departments/taxation.yaml", "type: Int", "type: Money")

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    assert "entities.Person.fields.annualIncome.type: unknown type Money" in str(caught.value)


def test_bad_yaml_names_file_and_line(catalog_dir: Path) -> None:
    edit(catalog_dir / "departments/civil_affairs.yaml", "frequency: daily", "frequency: [daily")

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "civil_affairs.yaml" in message
    assert "invalid YAML" in message
    assert "line" in message


def test_schema_violation_names_key_path(catalog_dir: Path) -> None:
    edit(
        catalog_dir / "departments/civil_affairs.yaml",
        "classification: conditional",
        "classification: restricted",
    )

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "civil_affairs.yaml: entities.Person.fields.maritalStatus.classification" in message
    assert "'public'" in message


def test_cache_ttl_longer_than_the_period_is_an_error(catalog_dir: Path) -> None:
    edit(
        catalog_dir / "departments/public_security.yaml",
        "        mask: name\n",
        "        mask: name\n        cache_ttl: 90000\n",
    )

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    assert "cache_ttl 90000s is longer than the daily period (86400s)" in str(caught.value)


def test_unset_variable_without_default_is_an_error(catalog_dir: Path) -> None:
    edit(
        catalog_dir / "departments/taxation.yaml",
        "${GOVGRAPH_TAXATION_URL:-",
        "${GOVGRAPH_TAXATION_URL_REQUIRED}${X:-",
    )

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    assert "source.url: environment variable GOVGRAPH_TAXATION_URL_REQUIRED is not set" in str(caught.value)


def test_unsupported_url_scheme_does_not_echo_the_url(catalog_dir: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={"GOVGRAPH_TAXATION_URL": "mysql://admin:hunter2@db/tax"})

    assert "unsupported URL scheme" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_missing_key_provider_is_an_error(catalog_dir: Path) -> None:
    edit(catalog_dir / "entities.yaml", "key: certificateNo", "key: certificateNumber")

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    assert "no department provides the key field Property.certificateNumber" in str(caught.value)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog directory not found"):
        load_catalog(tmp_path / "nowhere", env={})


def test_subscribable_fields_are_marked_in_the_catalog() -> None:
    catalog = load_catalog(DEMO_CATALOG, env={})

    assert {field.coordinate for field in catalog.subscribable()} == {
        "Person.deceased",
        "Person.maritalStatus",
        "Enterprise.status",
        "Property.seized",
        "Property.mortgaged",
    }
    deceased, died = catalog.field("Person.deceased"), catalog.field("Person.dateOfDeath")
    for field, type_name in ((deceased, "Boolean"), (died, "Date")):
        assert (field.department, field.classification, field.frequency, field.type.name) == (
            "public_security",
            "conditional",
            "daily",
            type_name,
        )
    assert not died.subscribable


def test_subscribable_must_be_a_boolean(catalog_dir: Path) -> None:
    edit(catalog_dir / "departments/market_regulation.yaml", "subscribable: true", 'subscribable: "yes"')

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "departments/market_regulation.yaml" in message
    assert "entities.Enterprise.fields.status.subscribable" in message
    assert "boolean" in message


def test_a_not_shared_field_cannot_be_subscribable(catalog_dir: Path) -> None:
    edit(
        catalog_dir / "departments/taxation.yaml",
        "classification: not_shared",
        "classification: not_shared\n        subscribable: true",
    )

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir, env={})

    message = str(caught.value)
    assert "departments/taxation.yaml: entities.Person.fields.bankAccount.subscribable" in message
    assert "not_shared" in message
