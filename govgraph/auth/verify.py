"""Yes/no answers: compare a raw value with the caller's conditions.

The raw value never leaves this function; only ``True``, ``False`` or
``None`` (no record to compare) does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from govgraph.errors import BadUserInput

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "oneOf": lambda value, options: value in options,
}


def check(coordinate: str, value: Any, conditions: Mapping[str, Any]) -> bool | None:
    """``True`` when ``value`` meets every given condition; ``None`` when there is no value."""
    given = {name: wanted for name, wanted in conditions.items() if wanted is not None}
    if not given:
        raise BadUserInput(f"verify {coordinate} needs at least one condition, e.g. eq or lt")
    if value is None:
        return None
    return all(COMPARISONS[name](value, wanted) for name, wanted in given.items())


def check_presence(coordinate: str, count: int, exists: bool | None, count_at_least: int | None) -> bool:
    """For references and lists: does a value exist, and are there at least N of them?"""
    if exists is None and count_at_least is None:
        raise BadUserInput(f"verify {coordinate} needs exists or countAtLeast")
    answer = True
    if exists is not None:
        answer = answer and (count > 0) == exists
    if count_at_least is not None:
        answer = answer and count >= count_at_least
    return answer
