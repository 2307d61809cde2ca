from __future__ import annotations

from govgraph.cache.control import demand_for, parse_cache_control
from govgraph.cache.freshness import Demand


def test_parse() -> None:
    assert parse_cache_control(None) == (None, False)
    assert parse_cache_control("max-age=30") == (30.0, False)
    assert parse_cache_control("no-cache, max-age=5") == (5.0, True)
    assert parse_cache_control('max-age="10", private') == (10.0, False)
    assert parse_cache_control("max-age=soon") == (None, False)


def test_demands_below_the_floor_need_permission() -> None:
    assert demand_for("max-age=3600", may_bypass=False, floor=60) == (Demand(max_age=3600), None)
    demand, note = demand_for("max-age=5", may_bypass=False, floor=60)
    assert demand == Demand(max_age=60) and note is not None
    assert demand_for("max-age=5", may_bypass=True, floor=60) == (Demand(max_age=5), None)
    demand, note = demand_for("no-cache", may_bypass=False, floor=60)
    assert demand == Demand(max_age=60) and "no-cache" in (note or "")
    assert demand_for("no-cache", may_bypass=True, floor=60) == (Demand(max_age=0, no_cache=True), None)
