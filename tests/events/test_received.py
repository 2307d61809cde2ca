"""The body a department reports its changes in: every way it can be wrong is refused, saying what is wrong."""

from __future__ import annotations

import datetime
from pathlib import Path

import orjson
import pytest

from govgraph.catalog.loader import load_catalog
from govgraph.errors import CatalogError
from govgraph.events.received import (
    MAX_CHANGES,
    ChangesRejected,
    ReceivedChange,
    parse_changes,
    reported_tables,
)
from tests.apis import catalog_with
from tests.sources.test_http_source import API_FILE

NOW = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    catalog = load_catalog(catalog_with(tmp_path_factory.mktemp("catalog"), API_FILE, "taxation"), env={})
    return reported_tables(catalog, "taxation")  # type: ignore[return-value]


def test_the_taxation_api_reports_its_two_entities_and_one_subscribable_column(tables: dict) -> None:
    assert sorted(tables) == ["Enterprise", "Person"]
    assert tables["Person"].subscribable == {"tax_compliant"}
    assert tables["Enterprise"].subscribable == frozenset()
    assert "bank_account" not in tables["Person"].columns, "a not_shared column is never read"


def test_times_are_kept_in_utc_to_the_millisecond_and_columns_in_catalog_order(tables: dict) -> None:
    body = {
        "changes": [
            {
                "entity": "Person",
                "key": "k1",
                "columns": ["tax_compliant", "annual_income"],
                "at": "2026-12-03T18:00:00.123456+08:00",
            },
            {"entity": "Person", "key": "k2", "columns": ["tax_compliant"]},
            {"entity": "Enterprise", "key": "c1", "columns": ["credit_rating"]},
        ]
    }

    received, recorded = parse_changes(tables, orjson.dumps(body), now=NOW)

    assert received == 3
    assert recorded == [
        ReceivedChange("Person", "k1", ("annual_income", "tax_compliant"), "2026-12-03T10:00:00.123Z"),
        ReceivedChange("Person", "k2", ("tax_compliant",), "2026-12-03T10:00:00.000Z"),
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "the body is not JSON"),
        (b"[]", 'one property, "changes"'),
        (b'{"changes": [], "extra": 1}', 'one property, "changes"'),
        (b'{"changes": []}', "changes must be a non-empty list"),
        (b'{"changes": {"entity": "Person"}}', "changes must be a non-empty list"),
        (b'{"changes": ["Person"]}', "changes[0] must be an object"),
        (
            b'{"changes": [{"entity": "Person", "key": "k", "columns": ["tax_compliant"], "old": 1, "new": 0}]}',
            "changes[0] has new, old: a change names",
        ),
        (
            b'{"changes": [{"entity": 7, "key": "k", "columns": ["tax_compliant"]}]}',
            "changes[0].entity 7 is not an entity",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": "a\\nb", "columns": ["tax_compliant"]}]}',
            "changes[0].key must be a printable",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": 110, "columns": ["tax_compliant"]}]}',
            "changes[0].key must be a printable",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": "k", "columns": "tax_compliant"}]}',
            "changes[0].columns must be a non-empty list",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": "k", "columns": [1]}]}',
            "changes[0].columns must be a non-empty list",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": "k", "columns": ["nsrsbh"]}]}',
            "nsrsbh not a column of individual_taxpayers",
        ),
        (
            b'{"changes": [{"entity": "Person", "key": "k", "columns": ["tax_compliant"], "at": 5}]}',
            "changes[0].at must be an ISO 8601 time",
        ),
    ],
)
def test_a_body_that_is_not_a_list_of_the_department_s_changes_is_refused(
    tables: dict, body: bytes, problem: str
) -> None:
    with pytest.raises(ChangesRejected) as refused:
        parse_changes(tables, body, now=NOW)
    assert problem in str(refused.value)


def test_a_call_holds_at_most_so_many_changes(tables: dict) -> None:
    change = {"entity": "Person", "key": "k", "columns": ["tax_compliant"]}
    parse_changes(tables, orjson.dumps({"changes": [change] * MAX_CHANGES}), now=NOW)
    with pytest.raises(ChangesRejected, match=f"at most {MAX_CHANGES} a call"):
        parse_changes(tables, orjson.dumps({"changes": [change] * (MAX_CHANGES + 1)}), now=NOW)


def test_a_service_department_with_a_subscribable_field_must_report_its_changes(tmp_path: Path) -> None:
    catalog = catalog_with(tmp_path, API_FILE, "taxation")
    path = catalog / "departments" / "taxation.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  changes:\n    secret_env: GOVGRAPH_TAXATION_CHANGES_SECRET\n", ""), encoding="utf-8"
    )

    with pytest.raises(CatalogError) as refused:
        load_catalog(catalog, env={})
    assert "taxation.yaml: entities.Person.fields.taxCompliant.subscribable" in str(refused.value)
    assert "comes from a service (http), which has no change table: add source.changes" in str(refused.value)
