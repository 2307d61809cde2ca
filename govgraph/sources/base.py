"""The one small protocol between resolvers and department sources.

A source answers three questions about one department's tables:

- ``fetch``: the rows whose key column holds these keys;
- ``lookup``: the rows whose match column holds these keys (one-to-many);
- ``scan``: a page of keys in key order, for paginated listings.

Keys arrive already batched and chunked by ``resolvers/loaders.py``; a
source runs what it is given. It knows nothing about GraphQL, roles or
caching. Failures surface as ``SourceUnavailable(department)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Row = Mapping[str, Any]


class Rows(dict[Any, Row]):
    """Rows by key, with how long their department says they stay fresh: seconds, 0 for "do not keep",
    or ``None`` when it does not say (a database never does) and the catalog's frequency decides.

    ``columns``: set when every row holds exactly these columns (a statement's), so that a consumer
    need not look at each row's keys; ``None`` when rows may differ (an API's answers)."""

    def __init__(self, *, max_age: int | None = None, columns: frozenset[str] | None = None) -> None:
        super().__init__()
        self.max_age = max_age
        self.columns = columns


class Source(Protocol):
    department: str
    max_keys_per_query: int

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise ``SourceUnavailable`` unless the source answers."""

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        """Rows by key; keys with no row are absent from the result."""

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        """Rows grouped by match value, in a stable order; keys with no rows are absent."""

    async def scan(
        self, table: str, key_column: str, *, equals: Mapping[str, Any], after: Any | None, limit: int
    ) -> list[Any]:
        """Up to ``limit`` keys greater than ``after``, in key order, whose columns equal ``equals``."""
