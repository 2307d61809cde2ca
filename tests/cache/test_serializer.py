from __future__ import annotations

import datetime
import decimal

import asyncpg

from govgraph.cache.serializer import dumps, loads
from tests.conftest import POSTGRES, require_service


def test_rows_round_trip_exactly() -> None:
    entry = [
        1732460000.25,
        {
            "birth_date": datetime.date(1990, 3, 7),
            "seen": datetime.datetime(2026, 11, 24, 8, 0, tzinfo=datetime.UTC),
            "arrears": decimal.Decimal("35000.50"),
            "income": 186000,
            "share": 50.0,
            "spouse": None,
            "insured": True,
            "name": "张伟",
        },
    ]
    assert loads(dumps(entry)) == entry
    assert isinstance(loads(dumps(entry))[1]["arrears"], decimal.Decimal)
    assert loads(dumps([1.0, None])) == [1.0, None]
    assert loads(None) is None


def test_lists_of_rows_round_trip() -> None:
    rows = [
        {"bdcqzh": "京(2019)东城区不动产权第0001234号", "share_pct": 50.0},
        {"bdcqzh": "x", "share_pct": None},
    ]
    assert loads(dumps([0.5, rows])) == [0.5, rows]


async def test_a_postgresql_record_is_cached_as_the_row_it_reads_as() -> None:
    """PostgreSQL rows reach the cache as asyncpg's records, not dicts: Redis must hold them all the same."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        record = await connection.fetchrow(
            "SELECT 'x' AS resident_id, DATE '1990-03-07' AS birth_date, 35000.50::numeric AS arrears, "
            "NULL::text AS spouse, true AS insured"
        )
    finally:
        await connection.close()
    assert not isinstance(record, dict)
    entry = loads(dumps([0.5, record]))
    assert entry == [0.5, dict(record)]
    assert entry[1]["birth_date"] == datetime.date(1990, 3, 7)
    assert isinstance(entry[1]["arrears"], decimal.Decimal)
