"""Resolvers for the fields that are not plain attributes: references and lists.

Each is built by a factory at schema build time, so nothing is late-bound,
and each asks a loader; none queries on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import strawberry

from govgraph.catalog.model import CatalogField
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.entities import EntityLoader

Resolver = Callable[..., Coroutine[Any, Any, Any]]


def reference_resolver(entities: EntityLoader, name: str, target: str) -> Callable[..., Any]:
    """Sync on purpose: a target prefetched with its parents is returned as it is; otherwise the
    coroutine that loads it is returned, and graphql-core awaits it."""

    async def load(info: strawberry.Info, key: Any) -> Any:
        return (await entities.load(info._raw_info, target, [key], in_list=False))[0]

    def resolve(root: Any, info: strawberry.Info) -> Any:
        prefetched = root.__dict__.get("_prefetched")
        if prefetched is not None and name in prefetched:
            return prefetched[name]
        key = root._refs.get(name)
        if key is None:
            return None
        return load(info, key)

    return resolve


def entity_list_resolver(entities: EntityLoader, catalog_field: CatalogField) -> Resolver:
    lookup = catalog_field.lookup
    assert lookup is not None and lookup.column is not None
    department, table, match, column = catalog_field.department, lookup.table, lookup.match, lookup.column
    target, entity_name = catalog_field.type.name, catalog_field.entity

    async def resolve(root: Any, info: strawberry.Info) -> list[Any]:
        context: RequestContext = info.context
        rows = await context.loaders.lookup(department, table, match, (column,)).load(root._key)
        if rows:
            context.touch(entity_name, department, [root._key])
        keys = list(dict.fromkeys(row[column] for row in rows if row[column] is not None))
        if not keys:
            return []
        return await entities.load(info._raw_info, target, keys, in_list=True)

    return resolve


def object_list_resolver(entities: EntityLoader, catalog_field: CatalogField) -> Resolver:
    lookup, object_type = catalog_field.lookup, catalog_field.object_type
    assert lookup is not None and object_type is not None
    entity_name = catalog_field.entity
    department, table, match, columns = (
        catalog_field.department,
        lookup.table,
        lookup.match,
        object_type.columns,
    )

    async def resolve(root: Any, info: strawberry.Info) -> list[Any]:
        context: RequestContext = info.context
        rows = await context.loaders.lookup(department, table, match, columns).load(root._key)
        if rows:
            context.touch(entity_name, department, [root._key])
        return [entities.build_object(object_type, row) for row in rows]

    return resolve
