"""A department's records published as a JSON API: what a department hands over instead of its database.

``department_api(path)`` serves one demo department's SQLite file:

- ``POST /{table}/{column}`` with ``{"keys": [...]}``, or ``GET`` with
  ``?keys=…&keys=…``: the records whose ``column`` holds one of the keys, as
  ``{"data": [record, ...]}``;
- ``GET /{table}/{column}/{key}``: the records whose ``column`` holds ``key``
  (for one-to-many lookups), in a stable order.

A record is ``{"id": <the column asked by>, "attributes": {column: value}}``,
so a catalog maps columns to dotted paths (``attributes.annual_income``), as
it would for a real department's API. Only the ``published`` columns are
served. With ``token``, every request must
carry ``Authorization: Bearer <token>``. Tables and columns are checked
against the database's own; values travel as parameters only.

``govgraph demo api --department taxation`` runs it (see docs/onboarding.md).
"""

from __future__ import annotations

import datetime
import hmac
import sqlite3
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_KEYS = 1000


def department_api(
    database: Path, *, published: Mapping[str, Collection[str]], token: str | None = None
) -> Starlette:
    """``published``: per table, the columns the department hands out (for the demo, those the catalog
    reads); the rest of its records, a bank account say, never leaves it."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        declared = {
            name: {row[1]: str(row[2]).upper() for row in connection.execute(f'PRAGMA table_info("{name}")')}
            for name in names
        }
    declared = {
        table: {column: kind for column, kind in types.items() if column in published.get(table, ())}
        for table, types in declared.items()
        if table in published
    }
    columns = {name: list(types) for name, types in declared.items()}

    def refuse(status: int, problem: str) -> Response:
        return Response(orjson.dumps({"error": problem}), status_code=status, media_type="application/json")

    def checked(request: Request) -> tuple[str, str] | Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return refuse(401, "a valid bearer token is required")
        table, column = request.path_params["table"], request.path_params["column"]
        if column not in columns.get(table, ()):
            return refuse(404, "no such table or column")
        return table, column

    def records(table: str, column: str, keys: list[Any]) -> Response:
        placeholders = ", ".join("?" for _ in keys)
        statement = f'SELECT * FROM "{table}" WHERE "{column}" IN ({placeholders}) ORDER BY rowid'
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(statement, keys).fetchall() if keys else []
        types = declared[table]
        data = [{"id": row[column], "attributes": _attributes(row, types)} for row in rows]
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def batch(request: Request) -> Response:
        place = checked(request)
        if isinstance(place, Response):
            return place
        if request.method == "GET":
            keys: Any = request.query_params.getlist("keys")
        else:
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return refuse(400, "the body must be JSON")
            keys = body.get("keys") if isinstance(body, dict) else None
        if (
            not isinstance(keys, list)
            or not all(isinstance(key, str) for key in keys)
            or len(keys) > MAX_KEYS
        ):
            return refuse(400, f'the body must be {{"keys": [up to {MAX_KEYS} strings]}}')
        return records(*place, keys)

    async def one(request: Request) -> Response:
        place = checked(request)
        if isinstance(place, Response):
            return place
        return records(*place, [request.path_params["key"]])

    return Starlette(
        routes=[
            Route("/{table}/{column}", batch, methods=["GET", "POST"]),
            Route("/{table}/{column}/{key}", one, methods=["GET"]),
        ]
    )


def _attributes(row: sqlite3.Row, types: Mapping[str, str]) -> dict[str, Any]:
    """The published columns, in JSON's own types: SQLite keeps booleans as 0 and 1, an API sends
    ``true`` and ``false``."""
    return {name: _json_value(row[name], kind) for name, kind in types.items()}


def _json_value(value: Any, declared: str) -> Any:
    if value is not None and declared == "BOOLEAN":
        return bool(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value
