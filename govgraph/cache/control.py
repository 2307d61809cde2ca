"""Client freshness demands from the ``Cache-Control`` request header.

``max-age=N`` asks for data no older than N seconds; ``no-cache`` (or
``max-age=0``) asks for live data. Demands below the configured floor
would let a client hammer departments, so they need a role allowed to
bypass the cache; otherwise the floor applies and the response says so.
"""

from __future__ import annotations

from govgraph.cache.freshness import NO_DEMAND, Demand


def parse_cache_control(header: str | None) -> tuple[float | None, bool]:
    """(max-age in seconds or None, no-cache); unknown directives are ignored, as HTTP says."""
    if not header:
        return None, False
    max_age: float | None = None
    no_cache = False
    for directive in header.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            no_cache = True
        elif name == "max-age":
            try:
                max_age = max(float(value.strip().strip('"')), 0.0)
            except ValueError:
                continue
    return max_age, no_cache


def demand_for(header: str | None, may_bypass: bool, floor: float) -> tuple[Demand, str | None]:
    """The demand to honour, and why part of the request was not honoured (or None)."""
    max_age, no_cache = parse_cache_control(header)
    if max_age is None and not no_cache:
        return NO_DEMAND, None
    if no_cache or (max_age is not None and max_age == 0):
        if may_bypass:
            return Demand(max_age=0, no_cache=True), None
        return Demand(
            max_age=floor
        ), f"no-cache needs a role allowed to bypass the cache; max-age={floor:g} applied"
    assert max_age is not None
    if max_age < floor and not may_bypass:
        return Demand(max_age=floor), f"max-age below {floor:g} needs a role allowed to bypass the cache"
    return Demand(max_age=max_age), None
