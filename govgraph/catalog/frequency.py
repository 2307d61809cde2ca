"""How often a field's source changes, and what that means for caching."""

from __future__ import annotations

from typing import Literal

Frequency = Literal["realtime", "hourly", "daily", "weekly", "monthly"]

PERIOD_SECONDS: dict[str, int | None] = {
    "realtime": None,
    "hourly": 3_600,
    "daily": 86_400,
    "weekly": 7 * 86_400,
    "monthly": 30 * 86_400,
}


def default_ttl(frequency: Frequency) -> int | None:
    """Seconds a value may be served from cache; ``None`` means always live."""
    return PERIOD_SECONDS[frequency]
