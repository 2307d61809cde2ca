"""One recorded change: which record of which department changed which columns, and when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    department: str
    entity: str
    key: str
    columns: tuple[str, ...]
    at: str
    """ISO 8601, UTC."""

    @classmethod
    def from_row(cls, department: str, row: Any) -> Change:
        return cls(
            row.id,
            department,
            row.entity,
            row.entity_key,
            tuple(json.loads(row.changed_columns)),
            row.changed_at,
        )
