"""``ServiceSource``: what a department behind a service shares, whichever kind of service it is.

The transport (``upstream.py``), the count of requests sent, no listings
(``LISTING_UNSUPPORTED``), and turning a record of JSON into a row: each
catalog column read at its configured dotted path and coerced to the
catalog's type, a value of another type being the department's failure.
``HttpSource`` and ``GraphQLSource`` add how records are asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from govgraph.catalog.specs import GraphQLSourceSpec, HttpSourceSpec
from govgraph.errors import ListingUnsupported, SourceUnavailable
from govgraph.sources.upstream import Upstream
from govgraph.sources.values import COERCE, dig

SHAPE = "answering in a shape govgraph was not configured for"


class ServiceSource:
    def __init__(
        self,
        department: str,
        spec: HttpSourceSpec | GraphQLSourceSpec,
        tables: Mapping[str, Mapping[str, str]],
        *,
        secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``tables``: each table's columns and their catalog types; ``secret``: for ``spec.auth``."""
        self.department = department
        self.max_keys_per_query = spec.max_keys_per_request
        self.timeout = spec.timeout
        self._types = tables
        self._paths = {table: table_spec.columns for table, table_spec in spec.tables.items()}
        self._upstream = Upstream(department, spec, secret=secret, transport=transport)

    @property
    def queries(self) -> int:
        """Requests sent to the department since start-up, retries included."""
        return self._upstream.requests

    async def open(self) -> None:
        await self._upstream.open()

    async def close(self) -> None:
        await self._upstream.close()

    async def scan(
        self, table: str, key_column: str, *, equals: Mapping[str, Any], after: Any | None, limit: int
    ) -> list[Any]:
        raise ListingUnsupported(self.department)

    def _row(self, table: str, record: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
        paths = self._paths[table]
        types = self._types[table]
        row: dict[str, Any] = {}
        for column in columns:
            value = dig(record, paths[column])
            try:
                row[column] = None if value is None else COERCE[types[column]](value)
            except (TypeError, ValueError):
                raise self._failure(SHAPE, f"{table}.{column} is not a {types[column]}") from None
        return row

    def _failure(self, reason: str, detail: str | None = None) -> SourceUnavailable:
        return self._upstream.failure(reason, detail)
