"""Cache entries as bytes for Redis: dates, datetimes, Decimals and None round-trip exactly."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import asyncpg
import orjson
from aiocache.serializers import BaseSerializer


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _tag(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, (dict, asyncpg.Record)):  # a department's row, as the driver returned it
        return {key: _tag(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag(item) for item in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, item),) = value.items()
            if key == "$date":
                return datetime.date.fromisoformat(item)
            if key == "$datetime":
                return datetime.datetime.fromisoformat(item)
            if key == "$decimal":
                return decimal.Decimal(item)
        return {key: _untag(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_untag(item) for item in value]
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(_tag(value), default=_default)


def loads(data: bytes | None) -> Any:
    if data is None:
        return None
    return _untag(orjson.loads(data))


class RowSerializer(BaseSerializer):
    DEFAULT_ENCODING = None

    def dumps(self, value: Any) -> bytes:
        return dumps(value)

    def loads(self, value: bytes | None) -> Any:
        return loads(value)
