"""What a request's data is as of, per contributing department (``extensions.freshness``).

Two views are kept. The truth (when each part was fetched, and whether from
the cache) goes into the audit record. What the response shows may be
coarser: for data that is not public, a cache hit must look the same as a
fetch of one's own, or a principal could tell that somebody else had just
read the record. Such parts are shown as of the start of their cache window,
served from ``cache``, whether or not this request filled the entry
(``rows.py``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

_PRIORITY = {"live": 0, "cache": 1, "stale": 2}


@dataclass(slots=True)
class DepartmentFreshness:
    as_of: float
    served_from: str
    max_age: int | None
    shown_as_of: float
    shown_served_from: str

    def merge(
        self, as_of: float, served_from: str, max_age: int | None, shown_as_of: float, shown: str
    ) -> None:
        """A response is only as fresh as its oldest part."""
        self.as_of = min(self.as_of, as_of)
        self.shown_as_of = min(self.shown_as_of, shown_as_of)
        if _PRIORITY[served_from] > _PRIORITY[self.served_from]:
            self.served_from = served_from
        if _PRIORITY[shown] > _PRIORITY[self.shown_served_from]:
            self.shown_served_from = shown
        if max_age is not None and (self.max_age is None or max_age < self.max_age):
            self.max_age = max_age


@dataclass
class Freshness:
    departments: dict[str, DepartmentFreshness] = field(default_factory=dict)

    def record(
        self,
        department: str,
        as_of: float,
        served_from: str,
        max_age: int | None,
        *,
        shown_as_of: float | None = None,
        shown_served_from: str | None = None,
    ) -> None:
        """``shown_*``: what the response may say, when coarser than the truth."""
        shown_as = as_of if shown_as_of is None else shown_as_of
        shown = served_from if shown_served_from is None else shown_served_from
        current = self.departments.get(department)
        if current is None:
            self.departments[department] = DepartmentFreshness(as_of, served_from, max_age, shown_as, shown)
        else:
            current.merge(as_of, served_from, max_age, shown_as, shown)

    def served_from(self) -> dict[str, str]:
        """The truth, for the audit record."""
        return {department: entry.served_from for department, entry in self.departments.items()}

    def remaining(self, now: float) -> int | None:
        """Whole seconds for which every part stays within its max age; ``None`` if a part has none (live),
        or nothing was read."""
        if not self.departments or any(entry.max_age is None for entry in self.departments.values()):
            return None
        return max(0, int(min(entry.max_age - (now - entry.as_of) for entry in self.departments.values())))  # type: ignore[operator]

    def extension(self, now: float) -> list[dict[str, object]]:
        return [
            {
                "department": department,
                "asOf": datetime.datetime.fromtimestamp(entry.shown_as_of, datetime.UTC).isoformat(
                    timespec="milliseconds"
                ),
                "servedFrom": entry.shown_served_from,
                "age": round(max(now - entry.shown_as_of, 0.0), 3),
                "maxAge": entry.max_age,
            }
            for department, entry in sorted(self.departments.items())
        ]


@dataclass(frozen=True, slots=True)
class Demand:
    """What the client asked for with ``Cache-Control``: nothing older than ``max_age``, or ``no_cache``."""

    max_age: float | None = None
    no_cache: bool = False


NO_DEMAND = Demand()
