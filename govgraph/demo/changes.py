"""``govgraph demo change``: make a change in the demo city, as the department's own system would."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from govgraph.demo.layout import department_tables
from govgraph.demo.writers import asyncpg_url

ChangeKind = Literal["death", "revoke", "seize"]
REVOKED = "吊销"


@dataclass(frozen=True, slots=True)
class DemoChange:
    department: str
    table: str
    key_column: str
    entity: str
    fields: tuple[str, ...]
    values: Callable[[], dict[str, Any]]
    """The new values, computed when the change is made (a death happens today)."""
    noun: str


CHANGES: dict[ChangeKind, DemoChange] = {
    "death": DemoChange(
        "public_security",
        "residents",
        "resident_id",
        "Person",
        ("deceased", "dateOfDeath"),
        lambda: {"deceased": True, "date_of_death": datetime.date.today()},
        "person with ID number",
    ),
    "revoke": DemoChange(
        "market_regulation",
        "enterprises",
        "uniscid",
        "Enterprise",
        ("status",),
        lambda: {"regstate": REVOKED},
        "enterprise with credit code",
    ),
    "seize": DemoChange(
        "natural_resources",
        "real_estate_units",
        "bdcqzh",
        "Property",
        ("seized",),
        lambda: {"seized": True},
        "property with certificate",
    ),
}


class UnknownRecord(LookupError):
    pass


async def make_change(kind: ChangeKind, key: str, directory: Path | None, url: str | None) -> DemoChange:
    """Update the record; ``UnknownRecord`` if the department has no record of that key."""
    change = CHANGES[kind]
    engine = _engine(change.department, directory, url)
    table = department_tables()[change.department].tables[change.table]
    schema = change.department if url else None
    try:
        async with engine.begin() as connection:
            translated = await connection.execution_options(schema_translate_map={None: schema})
            result = await translated.execute(
                sa.update(table).where(table.c[change.key_column] == key).values(change.values())
            )
            if result.rowcount == 0:
                raise UnknownRecord(f"the demo city has no {change.noun} {key}")
    finally:
        await engine.dispose()
    return change


def _engine(department: str, directory: Path | None, url: str | None) -> AsyncEngine:
    if url:
        return create_async_engine(asyncpg_url(url))
    database = Path(directory or "var/demo") / f"{department}.db"
    if not database.is_file():
        raise FileNotFoundError(f"{database} not found; run `govgraph demo generate` first")
    return create_async_engine(f"sqlite+aiosqlite:///{database}")
