"""Turn keys into entity objects, one batched fetch per department.

A selection on an entity (``person { name annualIncome spouse { name } }``)
is planned once per request and field node: which departments, which
columns, which attributes. Loading then asks each department's loader for
all keys at once, concurrently, and fills plain attributes, so leaf fields
need no resolver. References keep the raw key in ``_refs`` for their own
resolver; lists are looked up by their resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLResolveInfo

from govgraph.auth.masks import mask_amount_band
from govgraph.catalog.model import Catalog, Entity, ObjectType
from govgraph.errors import SourceUnavailable
from govgraph.resolvers.context import PathError, RequestContext, Transform
from govgraph.resolvers.selection import collect_subfields, response_key
from govgraph.sources.base import Row


@dataclass(frozen=True, slots=True)
class Fill:
    name: str
    kind: str
    """scalar, reference or object: an attribute; check: a raw value for the verify object."""
    column: str | None
    object_type: ObjectType | None
    paths: tuple[tuple[str, ...], ...]
    """Where the field appears, relative to the entity (``("annualIncome",)``, ``("verify", "low")``)."""
    transform: Transform | None
    target: str | None = None
    """For a reference: the entity it points to."""
    nodes: tuple[FieldNode, ...] = ()
    """For a reference asked under one response key: its field nodes, so the targets are loaded with
    the parents, one batch per level, instead of one resolver call per parent."""


@dataclass(frozen=True, slots=True)
class DepartmentFetch:
    department: str
    table: str
    key_column: str
    columns: tuple[str, ...]
    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class SelectionPlan:
    entity: Entity
    fetches: tuple[DepartmentFetch, ...]
    """The home department's fetch comes first: its rows decide whether a key exists."""
    checks: type | None = None
    """The entity's checks class when ``verify`` is selected."""


class EntityLoader:
    """Builds entity and object instances of the generated strawberry types."""

    def __init__(self, catalog: Catalog, types: Mapping[str, type]) -> None:
        self.catalog = catalog
        self.types = types
        self.bands = {
            entity.name: {
                catalog_field.band_name: catalog_field
                for catalog_field in entity.fields.values()
                if catalog_field.band_name is not None
            }
            for entity in catalog.entities.values()
        }

    async def load(
        self,
        info: GraphQLResolveInfo,
        entity_name: str,
        keys: Sequence[Any],
        *,
        in_list: bool,
        item_paths: Sequence[tuple[str | int, ...]] | None = None,
        field_nodes: Sequence[FieldNode] | None = None,
    ) -> list[Any]:
        """Instances for ``keys`` in order; ``None`` where the home department has no record.

        ``in_list`` says whether the results are items of a list at ``info.path``
        (their paths end in their index); ``item_paths`` gives each path explicitly.
        ``field_nodes`` are the nodes whose selection applies, when not ``info.field_nodes``.
        """
        context: RequestContext = info.context
        plan = self._plan(context, info, entity_name, field_nodes or info.field_nodes)
        fetched = await _fetch_all(context, plan.fetches, keys)
        for fetch, rows in zip(plan.fetches, fetched, strict=True):
            if not isinstance(rows, BaseException) and fetch.fills:
                context.touch(
                    entity_name, fetch.department, [key for key, row in zip(keys, rows, strict=True) if row]
                )
        base_path = tuple(info.path.as_list())
        cls = self.types[entity_name]
        home_rows = fetched[0]
        instances: list[Any] = []
        paths: list[tuple[str | int, ...]] = []
        for index, key in enumerate(keys):
            if not isinstance(home_rows, BaseException) and home_rows[index] is None:
                instances.append(None)
                paths.append(())
                continue
            instance = cls.__new__(cls)
            values = instance.__dict__
            values["_key"] = key
            refs: dict[str, Any] = {}
            values["_refs"] = refs
            checks: dict[str, Any] | None = None
            if plan.checks is not None:
                checks_instance = plan.checks.__new__(plan.checks)
                checks = {}
                checks_instance.__dict__.update(_key=key, _values=checks)
                values["verify"] = checks_instance
            if item_paths is not None:
                path = item_paths[index]
            else:
                path = (*base_path, index) if in_list else base_path
            for fetch, rows in zip(plan.fetches, fetched, strict=False):
                if isinstance(rows, SourceUnavailable):
                    self._fail(context, fetch, path, rows, values)
                    continue
                if isinstance(rows, BaseException):
                    raise rows
                self._fill(fetch, rows[index], values, refs, checks)
            instances.append(instance)
            paths.append(path)
        await self._prefetch(info, plan, instances, paths)
        return instances

    async def _prefetch(
        self,
        info: GraphQLResolveInfo,
        plan: SelectionPlan,
        instances: list[Any],
        paths: list[tuple[str | int, ...]],
    ) -> None:
        """Load the targets of every prefetchable reference for all instances at once, concurrently."""
        loads = []
        for fetch in plan.fetches:
            for fill in fetch.fills:
                if fill.target is None:
                    continue
                owners = [
                    (instance, path)
                    for instance, path in zip(instances, paths, strict=True)
                    if instance is not None and instance._refs.get(fill.name) is not None
                ]
                if owners:
                    loads.append(self._prefetch_one(info, fill, owners))
        if loads:
            await asyncio.gather(*loads)

    async def _prefetch_one(
        self, info: GraphQLResolveInfo, fill: Fill, owners: list[tuple[Any, Any]]
    ) -> None:
        assert fill.target is not None
        (relative,) = fill.paths
        targets = await self.load(
            info,
            fill.target,
            [instance._refs[fill.name] for instance, _ in owners],
            in_list=True,
            item_paths=[(*path, *relative) for _, path in owners],
            field_nodes=fill.nodes,
        )
        for (instance, _), target in zip(owners, targets, strict=True):
            instance.__dict__.setdefault("_prefetched", {})[fill.name] = target

    def build_object(self, object_type: ObjectType, row: Row) -> Any:
        cls = self.types[object_type.name]
        instance = cls.__new__(cls)
        values = instance.__dict__
        refs: dict[str, Any] = {}
        values["_refs"] = refs
        for object_field in object_type.fields.values():
            value = row.get(object_field.column)
            if object_field.type.name in self.catalog.entities:
                refs[object_field.name] = value
            else:
                values[object_field.name] = value
        return instance

    def _fill(
        self,
        fetch: DepartmentFetch,
        row: Row | None,
        values: dict[str, Any],
        refs: dict[str, Any],
        checks: dict[str, Any] | None,
    ) -> None:
        for fill in fetch.fills:
            if fill.kind == "check":
                checks[fill.name] = None if row is None else row[fill.column]  # type: ignore[index]
            elif row is None:
                values[fill.name] = None
            elif fill.kind == "scalar":
                value = row[fill.column]
                values[fill.name] = (
                    value if fill.transform is None or value is None else fill.transform(value)
                )
            elif fill.kind == "reference":
                refs[fill.name] = row[fill.column]
            else:
                object_type = fill.object_type
                assert object_type is not None
                if all(row[column] is None for column in object_type.columns):
                    values[fill.name] = None
                else:
                    values[fill.name] = self.build_object(object_type, row)

    def _fail(
        self,
        context: RequestContext,
        fetch: DepartmentFetch,
        path: tuple[str | int, ...],
        error: SourceUnavailable,
        values: dict[str, Any],
    ) -> None:
        for fill in fetch.fills:
            if fill.kind != "check":
                values[fill.name] = None
            for relative in fill.paths:
                context.path_errors.append(PathError((*path, *relative), error))

    def _plan(
        self,
        context: RequestContext,
        info: GraphQLResolveInfo,
        entity_name: str,
        field_nodes: Sequence[FieldNode],
    ) -> SelectionPlan:
        cache_key = (id(field_nodes[0]), entity_name)
        plan = context.plans.get(cache_key)
        if plan is None:
            plan = self._build_plan(context, info, entity_name, field_nodes)
            context.plans[cache_key] = plan
        return plan

    def _build_plan(
        self,
        context: RequestContext,
        info: GraphQLResolveInfo,
        entity_name: str,
        field_nodes: Sequence[FieldNode],
    ) -> SelectionPlan:
        entity = self.catalog.entities[entity_name]
        selected = collect_subfields(field_nodes, entity_name, info.fragments, info.variable_values)
        by_department: dict[str, list[Fill]] = {entity.home_department: []}
        for name, nodes in selected.items():
            catalog_field = self.bands[entity_name].get(name) or entity.fields.get(name)
            if catalog_field is None or catalog_field.kind not in ("scalar", "reference", "object"):
                continue
            transform = context.transforms.get(catalog_field.coordinate)
            if name != catalog_field.name:
                transform = mask_amount_band
            paths = _paths(nodes)
            prefetch = catalog_field.kind == "reference" and len(paths) == 1
            by_department.setdefault(catalog_field.department, []).append(
                Fill(
                    name,
                    catalog_field.kind,
                    catalog_field.column,
                    catalog_field.object_type,
                    paths,
                    transform,
                    catalog_field.type.name if prefetch else None,
                    tuple(nodes) if prefetch else (),
                )
            )
        checks = None
        if "verify" in selected:
            checks = self.types[f"{entity_name}Checks"]
            for verify_node in selected["verify"]:
                asked = collect_subfields(
                    [verify_node], checks.__name__, info.fragments, info.variable_values
                )
                for name, nodes in asked.items():
                    catalog_field = entity.fields.get(name)
                    if catalog_field is None or catalog_field.kind not in ("scalar", "reference"):
                        continue
                    paths = tuple((response_key(verify_node), *path) for path in _paths(nodes))
                    by_department.setdefault(catalog_field.department, []).append(
                        Fill(name, "check", catalog_field.column, None, paths, None)
                    )
        fetches = []
        for department, fills in by_department.items():
            part = entity.parts[department]
            columns = tuple(dict.fromkeys(column for fill in fills for column in _columns(fill)))
            fetches.append(DepartmentFetch(department, part.table, part.key_column, columns, tuple(fills)))
        return SelectionPlan(entity, tuple(fetches), checks)


async def _fetch_all(
    context: RequestContext, fetches: Sequence[DepartmentFetch], keys: Sequence[Any]
) -> list[list[Row | None] | BaseException]:
    """Every department's rows for the keys, concurrently; a department's failure is returned, not raised.

    Loader futures are gathered directly, so no task is created per key or per department.
    """
    loaders = [
        context.loaders.rows(fetch.department, fetch.table, fetch.key_column, fetch.columns)
        for fetch in fetches
    ]
    futures = [[loader.load(key) for key in keys] for loader in loaders]

    await asyncio.gather(*(future for department in futures for future in department), return_exceptions=True)
    fetched: list[list[Row | None] | BaseException] = []
    for department in futures:
        failure = next((future.exception() for future in department if future.exception() is not None), None)
        fetched.append(failure if failure is not None else [future.result() for future in department])
    return fetched


def _paths(nodes: list[Any]) -> tuple[tuple[str, ...], ...]:
    return tuple((key,) for key in dict.fromkeys(response_key(node) for node in nodes))


def _columns(fill: Fill) -> tuple[str, ...]:
    if fill.object_type is not None:
        return fill.object_type.columns
    return (fill.column,)  # type: ignore[return-value]
