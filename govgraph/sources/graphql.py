"""``GraphQLSource``: a department that is itself a federation subgraph, read through ``_entities``.

The catalog's ``source`` block (``kind: graphql``) names, per table, the
remote entity type and its key field, and for each catalog column the
dotted path of remote fields it comes from. A batch of keys becomes one
request of representations, with a selection generated for exactly the
columns asked (kept per table and column set). govgraph authenticates with
the configured header, as the service principal the department granted it.

The department fails alone, as ``SourceUnavailable``, for whatever the
transport meets (``upstream.py``) and for an answer with errors (a partial
answer would be read as "no value"), a list of entities that does not match
the representations, a value of another type, or an entity for another key.
Errors are logged by their codes only, never their messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from govgraph.catalog.specs import GraphQLSourceSpec
from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row
from govgraph.sources.service import SHAPE, ServiceSource
from govgraph.sources.values import dig

JSON_BODY = {"Content-Type": "application/json"}


class GraphQLSource(ServiceSource):
    def __init__(
        self,
        department: str,
        spec: GraphQLSourceSpec,
        tables: Mapping[str, Mapping[str, str]],
        **options: Any,
    ) -> None:
        """``options``: ``secret`` and ``transport``, as for ``ServiceSource``."""
        super().__init__(department, spec, tables, **options)
        self._spec = spec
        self._documents: dict[tuple[str, tuple[str, ...]], bytes] = {}

    async def check(self) -> None:
        answer = await self._post(orjson.dumps({"query": "{ __typename }"}))
        if dig(answer, "data.__typename") is None:
            raise self._failure(SHAPE, "no data.__typename")

    async def service_sdl(self) -> str | None:
        """The subgraph's own SDL (``_service { sdl }``), or ``None`` when it does not publish it to govgraph."""
        body = orjson.dumps({"query": "{ _service { sdl } }"})
        answer = (await self._upstream.json("POST", self._spec.url, content=body, headers=JSON_BODY)).json
        sdl = dig(answer, "data._service.sdl") if isinstance(answer, dict) else None
        return sdl if isinstance(sdl, str) else None

    async def fetch(
        self, table: str, key_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, Row]:
        spec = self._spec.tables[table]
        wanted = tuple(dict.fromkeys((key_column, *columns)))
        representations = [{"__typename": spec.type, spec.key: key} for key in keys]
        body = b'{"query":%s,"variables":{"representations":%s}}' % (
            self._document(table, wanted),
            orjson.dumps(representations),
        )
        answer = await self._post(body)
        entities = dig(answer, "data._entities")
        if not isinstance(entities, list) or len(entities) != len(keys):
            raise self._failure(SHAPE, "_entities does not match the representations")
        rows: dict[Any, Row] = {}
        for key, entity in zip(keys, entities, strict=True):
            if entity is None:
                continue
            if not isinstance(entity, dict):
                raise self._failure(SHAPE, "an entity is not an object")
            row = self._row(table, entity, wanted)
            if row[key_column] != key:
                raise self._failure(SHAPE, "an entity for another key")
            rows[key] = row
        return rows

    async def lookup(
        self, table: str, match_column: str, columns: Sequence[str], keys: Sequence[Any]
    ) -> dict[Any, list[Row]]:
        raise SourceUnavailable(self.department, "not configured for lookups")

    async def _post(self, body: bytes) -> Any:
        # The subgraph's Cache-Control speaks of its answer to the platform's principal; the catalog's
        # frequency decides how long govgraph keeps the rows.
        answer = (await self._upstream.json("POST", self._spec.url, content=body, headers=JSON_BODY)).json
        if not isinstance(answer, dict):
            raise self._failure(SHAPE, "the answer is not an object")
        errors = answer.get("errors")
        if errors:
            codes = sorted(
                {str(dig(error, "extensions.code")) for error in errors if isinstance(error, dict)} or {"?"}
            )
            raise self._failure("answering with errors", f"codes {', '.join(codes)}")
        return answer

    def _document(self, table: str, columns: tuple[str, ...]) -> bytes:
        """The query for these columns, as a JSON string ready for the body; built once per column set."""
        document = self._documents.get((table, columns))
        if document is None:
            spec = self._spec.tables[table]
            selection = _selection([spec.columns[column] for column in columns])
            query = (
                "query GovgraphEntities($representations: [_Any!]!) "
                f"{{ _entities(representations: $representations) {{ ... on {spec.type} {selection} }} }}"
            )
            document = self._documents[(table, columns)] = orjson.dumps(query)
        return document


def _selection(paths: Sequence[str]) -> str:
    """``["a", "b.c", "b.d"]`` -> ``{ a b { c d } }``."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})

    def render(node: dict[str, Any]) -> str:
        return (
            "{ "
            + " ".join(name + (" " + render(child) if child else "") for name, child in node.items())
            + " }"
        )

    return render(tree)
