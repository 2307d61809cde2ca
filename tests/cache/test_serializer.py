from __future__ import annotations

import datetime
import decimal

from govgraph.cache.serializer import dumps, loads


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
