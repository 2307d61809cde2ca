"""JSON values from a department's service, turned into the Python values a SQL source gives for the same
catalog type; anything else is malformed (``TypeError`` or ``ValueError``)."""

from __future__ import annotations

import datetime
from typing import Any


def dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _date(value: Any) -> datetime.date:
    return datetime.date.fromisoformat(_string(value))


COERCE = {
    "String": _string,
    "IdNumber": _string,
    "CreditCode": _string,
    "Int": _integer,
    "Float": _float,
    "Boolean": _boolean,
    "Date": _date,
}
