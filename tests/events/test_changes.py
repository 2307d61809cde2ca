"""Change detection on the demo city: the change table, its triggers, ``demo change`` and the feed."""

from __future__ import annotations

import asyncio
import datetime
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from govgraph.catalog.loader import load_catalog
from govgraph.catalog.specs import HttpSourceSpec
from govgraph.cli import main
from govgraph.demo.golden import GOLDEN_PROPERTY, OLD_TOWN_TRADING, WANG_JIANGUO, ZHANG_WEI
from govgraph.events.change import Change
from govgraph.events.feed import ChangeFeed
from govgraph.settings import DEMO_CATALOG

BOUND = 10.0
"""The longest a test waits for a change to come through; passing never depends on it."""
HTTP_SOURCE = HttpSourceSpec.model_validate(
    {
        "kind": "http",
        "url": "http://127.0.0.1:1",
        "tables": {"t": {"fetch": {"path": "/t"}, "columns": {"a": "a"}}},
    }
)


@pytest.fixture
def city(demo_dir: Path, tmp_path: Path) -> Path:
    """A copy of the session's demo city, to change freely."""
    return Path(shutil.copytree(demo_dir, tmp_path / "demo"))


def _changes(city: Path, department: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(city / f"{department}.db") as connection:
        return connection.execute("SELECT * FROM govgraph_changes ORDER BY id").fetchall()


def test_a_death_records_one_change_naming_columns_never_values(
    city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "change", "--dir", str(city), "--death", WANG_JIANGUO]) == 0

    assert (
        capsys.readouterr().out == f"public_security: Person {WANG_JIANGUO} changed deceased, dateOfDeath\n"
    )
    [(_id, entity, key, columns, at)] = _changes(city, "public_security")
    assert (entity, key, json.loads(columns)) == ("Person", WANG_JIANGUO, ["deceased", "date_of_death"])
    assert datetime.datetime.fromisoformat(at).utcoffset() == datetime.timedelta(0)
    with sqlite3.connect(city / "public_security.db") as connection:
        names = [row[1] for row in connection.execute("PRAGMA table_info(govgraph_changes)")]
        deceased, died = connection.execute(
            "SELECT deceased, date_of_death FROM residents WHERE resident_id = ?", (WANG_JIANGUO,)
        ).fetchone()
    assert names == ["id", "entity", "entity_key", "changed_columns", "changed_at"]
    assert (deceased, died) == (1, datetime.date.today().isoformat())


def test_revoking_and_seizing_record_their_own_departments_changes(
    city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "change", "--dir", str(city), "--seize", GOLDEN_PROPERTY]) == 0
    enterprise = "91110101MA01BXQ80Y"
    assert main(["demo", "change", "--dir", str(city), "--revoke", enterprise]) == 0

    [(_, entity, key, columns, _)] = _changes(city, "natural_resources")
    assert (entity, key, json.loads(columns)) == ("Property", GOLDEN_PROPERTY, ["seized"])
    [(_, entity, key, columns, _)] = _changes(city, "market_regulation")
    assert (entity, key, json.loads(columns)) == ("Enterprise", enterprise, ["regstate"])
    assert _changes(city, "public_security") == []


def test_an_update_that_changes_nothing_subscribable_records_nothing(city: Path) -> None:
    with sqlite3.connect(city / "public_security.db") as connection:
        connection.execute(
            "UPDATE residents SET full_name = full_name || '甲' WHERE resident_id = ?", (ZHANG_WEI,)
        )
        connection.execute("UPDATE residents SET deceased = deceased, date_of_death = date_of_death")
    with sqlite3.connect(city / "market_regulation.db") as connection:
        # Already revoked: the same value again is no change.
        connection.execute(
            "UPDATE enterprises SET regstate = regstate WHERE uniscid = ?", (OLD_TOWN_TRADING,)
        )

    assert _changes(city, "public_security") == []
    assert _changes(city, "market_regulation") == []


@pytest.mark.parametrize(
    ("option", "key", "noun"),
    [
        ("--death", "110105196504123399", "person with ID number"),
        ("--revoke", "91110101MA00000000", "enterprise with credit code"),
        ("--seize", "京(2000)东城区不动产权第9999999号", "property with certificate"),
    ],
)
def test_an_unknown_key_is_one_sentence_and_exit_2(
    city: Path, capsys: pytest.CaptureFixture[str], option: str, key: str, noun: str
) -> None:
    assert main(["demo", "change", "--dir", str(city), option, key]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"govgraph: the demo city has no {noun} {key}\n"


def test_a_missing_demo_directory_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "change", "--dir", str(tmp_path), "--death", WANG_JIANGUO]) == 2
    assert "run `govgraph demo generate` first" in capsys.readouterr().err


async def _first_change_after_a_read(feed: ChangeFeed, change: list[str]) -> Change:
    """Start reading, make the change once the feed has read (and found nothing), return what it yields."""
    read = asyncio.Event()
    fetch = feed.fetch

    async def fetch_and_tell(after: int) -> list[Change]:
        found = await fetch(after)
        read.set()
        return found

    feed.fetch = fetch_and_tell  # type: ignore[method-assign]
    changes = feed.__aiter__()
    first = asyncio.ensure_future(anext(changes))
    try:
        await asyncio.wait_for(read.wait(), BOUND)
        assert await asyncio.to_thread(main, change) == 0
        return await asyncio.wait_for(first, BOUND)
    finally:
        first.cancel()
        await changes.aclose()


async def test_the_sqlite_feed_yields_the_change(city: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{city / 'public_security.db'}")
    try:
        async with ChangeFeed(engine, "public_security", poll_interval=0.05) as feed:
            assert not feed.listening
            change = await _first_change_after_a_read(
                feed, ["demo", "change", "--dir", str(city), "--death", WANG_JIANGUO]
            )
    finally:
        await engine.dispose()

    assert (change.department, change.entity, change.key) == ("public_security", "Person", WANG_JIANGUO)
    assert change.columns == ("deceased", "date_of_death")
    assert feed.after == change.id


async def test_the_feed_reads_changes_after_an_id(city: Path) -> None:
    for person in (WANG_JIANGUO, ZHANG_WEI):
        assert await asyncio.to_thread(main, ["demo", "change", "--dir", str(city), "--death", person]) == 0
    engine = create_async_engine(f"sqlite+aiosqlite:///{city / 'public_security.db'}")
    try:
        feed = ChangeFeed(engine, "public_security")
        first, second = await feed.fetch(0)
        assert [change.key for change in await feed.fetch(first.id)] == [ZHANG_WEI]
        assert await feed.fetch(second.id) == []
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_the_postgres_feed_is_woken_by_notify(postgres_city: str) -> None:
    engine = create_async_engine(postgres_city.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        # Polling far slower than the bound: only the notification can bring the change in time.
        async with ChangeFeed(engine, "public_security", "public_security", poll_interval=60) as feed:
            assert feed.listening
            change = await _first_change_after_a_read(
                feed, ["demo", "change", "--url", postgres_city, "--death", WANG_JIANGUO]
            )
        assert not feed.listening
    finally:
        await engine.dispose()

    assert (change.department, change.entity, change.key) == ("public_security", "Person", WANG_JIANGUO)
    assert change.columns == ("deceased", "date_of_death")


@pytest.mark.postgres
async def test_postgres_records_only_subscribable_changes(postgres_city: str) -> None:
    connection = await asyncpg.connect(postgres_city)
    try:
        await connection.execute(
            "UPDATE public_security.residents SET full_name = full_name || '甲' WHERE resident_id = $1",
            ZHANG_WEI,
        )
        await connection.execute("UPDATE natural_resources.real_estate_units SET seized = seized")
        assert await connection.fetch("SELECT * FROM public_security.govgraph_changes") == []
        assert await connection.fetch("SELECT * FROM natural_resources.govgraph_changes") == []
        await connection.execute(
            "UPDATE natural_resources.real_estate_units SET mortgaged = NOT mortgaged WHERE bdcqzh = $1",
            GOLDEN_PROPERTY,
        )
        rows = await connection.fetch(
            "SELECT entity, entity_key, changed_columns FROM natural_resources.govgraph_changes"
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [("Property", GOLDEN_PROPERTY, '["mortgaged"]')]


async def test_a_feed_for_a_catalog_department_reads_its_own_source(city: Path) -> None:
    catalog = load_catalog(DEMO_CATALOG, env={"GOVGRAPH_DEMO_DIR": str(city)})
    assert (
        await asyncio.to_thread(main, ["demo", "change", "--dir", str(city), "--seize", GOLDEN_PROPERTY]) == 0
    )

    async with ChangeFeed.for_department(catalog.departments["natural_resources"]) as feed:
        [change] = await feed.fetch(0)
    assert (change.entity, change.key, change.columns) == ("Property", GOLDEN_PROPERTY, ("seized",))
    with pytest.raises(ValueError, match="not a SQL source"):
        ChangeFeed.for_department(replace(catalog.departments["taxation"], source=HTTP_SOURCE))
