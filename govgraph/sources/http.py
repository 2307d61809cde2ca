"""``HttpSource``: a department that publishes a JSON API instead of its database.

The catalog's ``source`` block (``kind: http``) says, per table, where a
batch of keys is answered, where one key's records are looked up (a path
with ``{key}``), and where each catalog column sits within a record (a
dotted path). One pooled httpx client per department; the secret for the
auth header comes from an environment variable, never from the catalog.

Whatever goes wrong upstream is the department's failure, and only its
(``upstream.py`` for the transport's share): besides what any call can
meet, JSON that is not the shape configured, a value of the wrong type, a
record for a key that was not asked for. Each raises ``SourceUnavailable``
with a reason of govgraph's own words; nothing of the upstream body reaches
a caller or the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from govgraph.catalog.specs import HttpEndpointSpec, HttpSourceSpec
from govgraph.sources.base import Row, Rows
from govgraph.sources.service import SHAPE, ServiceSource
from govgraph.sources.values import dig

PROBE_KEY = "~govgraph-probe"
"""A key no department holds: the readiness check asks for it and expects an empty, well-formed answer."""


class HttpSource(ServiceSource):
    def __init__(
        self, department: str, spec: HttpSourceSpec, tables: Mapping[str, Mapping[str, str]], **options: Any
    ) -> None:
        """``options``: ``secret`` and ``transport``, as for ``ServiceSource``."""
        super().__init__(department, spec, tables, **options)
        self._spec = spec

    async def check(self) -> None:
        """Every table's batch endpoint answers well-formed JSON for a key nobody holds."""
        for table, spec in self._spec.tables.items():
            await self._records(spec.fetch, spec.fetch.path, [PROBE_KEY], table)

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        endpoint = self._spec.tables[table].fetch
        asked = set(keys)
        records, max_age = await self._records(endpoint, endpoint.path, keys, table)
        rows = Rows(max_age=max_age)
        for record in records:
            row = self._row(table, record, (key_column, *columns))
            key = row[key_column]
            if key not in asked:
                raise self._failure(
                    SHAPE,
                    "a record for a key it was not asked for",
                )
            rows[key] = row
        return rows

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        endpoint = self._spec.tables[table].lookups.get(match_column)
        if endpoint is None:
            raise self._failure("not configured for this lookup", f"no lookup of {table} by {match_column}")

        async def one(key: Any) -> tuple[Any, list[Row]]:
            path = endpoint.path.replace("{key}", quote(str(key), safe=""))
            rows = [
                self._row(table, record, (match_column, *columns))
                for record in (await self._records(endpoint, path, None, table))[0]
            ]
            if any(row[match_column] != key for row in rows):
                raise self._failure(
                    SHAPE,
                    "a lookup answered with records of another key",
                )
            return key, rows

        answers = await asyncio.gather(*(one(key) for key in dict.fromkeys(keys)))
        return {key: rows for key, rows in answers if rows}

    async def _records(
        self, endpoint: HttpEndpointSpec, path: str, keys: Sequence[Any] | None, table: str
    ) -> tuple[list[Mapping[str, Any]], int | None]:
        """The records of one call, and how long the department says they stay fresh: ``keys`` go in the
        body or the query string; ``None`` for a lookup."""
        options: dict[str, Any] = {}
        if keys is not None:
            if endpoint.method == "POST":
                options["content"] = orjson.dumps({endpoint.keys: list(keys)})
                options["headers"] = {"Content-Type": "application/json"}
            else:
                options["params"] = [(endpoint.keys, str(key)) for key in keys]
        answer = await self._upstream.json(endpoint.method, path, **options)
        records = dig(answer.json, endpoint.items) if endpoint.items else answer.json
        if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
            where = endpoint.items or "the answer"
            raise self._failure(SHAPE, f"{where} is not a list of records")
        return records, answer.max_age
