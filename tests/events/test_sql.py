"""The change table and triggers are generated from the catalog, with checked, quoted identifiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from govgraph.catalog.loader import load_catalog
from govgraph.cli import main
from govgraph.events.identifiers import quoted
from govgraph.events.triggers import change_sql
from govgraph.events.watched import watched_tables
from govgraph.settings import DEMO_CATALOG

CATALOG = load_catalog(DEMO_CATALOG, env={})


def test_the_watched_tables_come_from_the_subscribable_fields() -> None:
    watched = {
        department: [
            (item.entity, item.table, item.subscribable) for item in watched_tables(CATALOG, department)
        ]
        for department in CATALOG.departments
    }

    assert watched == {
        "public_security": [("Person", "residents", ("deceased",))],
        "civil_affairs": [("Person", "civil_status", ("marital_state",))],
        "human_resources": [],
        "taxation": [],
        "market_regulation": [("Enterprise", "enterprises", ("regstate",))],
        "natural_resources": [("Property", "real_estate_units", ("mortgaged", "seized"))],
    }


def test_postgres_sql_is_schema_qualified_and_notifies_the_department() -> None:
    statements = change_sql(CATALOG, "natural_resources", "postgresql", "land")

    assert statements[0].startswith('CREATE TABLE IF NOT EXISTS "land"."govgraph_changes"')
    trigger = statements[-1]
    assert 'AFTER UPDATE ON "land"."real_estate_units"' in trigger
    assert (
        'WHEN (OLD."mortgaged" IS DISTINCT FROM NEW."mortgaged" OR OLD."seized" IS DISTINCT FROM NEW."seized")'
        in trigger
    )
    assert "pg_notify('govgraph_changes', 'natural_resources')" in statements[1]


@pytest.mark.parametrize("name", ["Residents", "real-estate", 'x"; DROP TABLE residents; --', "1st"])
def test_identifiers_outside_the_plain_alphabet_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        quoted(name)
    with pytest.raises(ValueError):
        quoted("")
    with pytest.raises(ValueError):
        change_sql(CATALOG, "natural_resources", "postgresql", name)


def test_the_command_prints_the_statements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "sql", "--department", "market_regulation", "--dialect", "sqlite"]) == 0
    out = capsys.readouterr().out
    assert 'CREATE TRIGGER "govgraph_changes_enterprises" AFTER UPDATE ON "enterprises"' in out

    assert main(["events", "sql", "--department", "nowhere"]) == 2
    assert capsys.readouterr().err.startswith("govgraph: unknown department 'nowhere'; one of ")


def test_the_documented_sql_is_what_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parents[2] / "docs" / "changes.md").read_text(encoding="utf-8")
    documented = text.split("```sql\n", 1)[1].split("```", 1)[0]

    assert main(["events", "sql", "--department", "natural_resources"]) == 0
    assert documented.strip() == capsys.readouterr().out.strip()
