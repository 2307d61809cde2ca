"""What a request's data is as of, per contributing department (``extensions.freshness``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

_PRIORITY = {"live": 0, "cache": 1, "stale": 2}


@dataclass(slots=True)
class DepartmentFreshness:
    as_of: float
    served_from: str
    max_age: int | None


@dataclass
class Freshness:
    departments: dict[str, DepartmentFreshness] = field(default_factory=dict)

    def record(self, department: str, as_of: float, served_from: str, max_age: int | None) -> None:
        """Keep the oldest part: a response is only as fresh as its oldest data."""
        current = self.departments.get(department)
        if current is None:
            self.departments[department] = DepartmentFreshness(as_of, served_from, max_age)
            return
        if as_of < current.as_of:
            current.as_of = as_of
        if _PRIORITY[served_from] > _PRIORITY[current.served_from]:
            current.served_from = served_from
        if max_age is not None and (current.max_age is None or max_age < current.max_age):
            current.max_age = max_age

    def served_from(self) -> dict[str, str]:
        return {department: entry.served_from for department, entry in self.departments.items()}

    def extension(self, now: float) -> list[dict[str, object]]:
        return [
            {
                "department": department,
                "asOf": datetime.datetime.fromtimestamp(entry.as_of, datetime.UTC).isoformat(
                    timespec="milliseconds"
                ),
                "servedFrom": entry.served_from,
                "age": round(max(now - entry.as_of, 0.0), 3),
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
