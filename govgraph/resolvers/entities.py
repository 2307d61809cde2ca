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

from graphql import FieldNode, GraphQLResolveInfo, GraphQLSchema

from govgraph.auth.masks import mask_amount_band
from govgraph.catalog.model import Catalog, Entity, ObjectType
from govgraph.errors import SourceUnavailable
from govgraph.resolvers.context import PathError, RequestContext, Transform
from govgraph.sources.base import Row

Path = tuple[str | int, ...]


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
        item_paths: Sequence[tuple[Path, ...]] | None = None,
        field_nodes: Sequence[FieldNode] | None = None,
    ) -> list[Any]:
        """Instances for ``keys`` in order; ``None`` where the home department has no record.

        ``in_list`` says whether the results are items of a list at ``info.path``
        (their paths end in their index); ``item_paths`` gives each item's paths explicitly.
        ``field_nodes`` are the nodes whose selection applies, when not ``info.field_nodes``.
        """
        context: RequestContext = info.context
        plan = self._plan(context, info.schema, entity_name, field_nodes or info.field_nodes)
        fetched = await fetch_all(context, plan.fetches, keys)
        for position, (fetch, rows) in enumerate(zip(plan.fetches, fetched, strict=True)):
            # The home department's rows answer whether a record exists: reading them is an access too.
            if not isinstance(rows, BaseException) and (fetch.fills or position == 0):
                context.touch(
                    entity_name, fetch.department, [key for key, row in zip(keys, rows, strict=True) if row]
                )
        base_path = tuple(info.path.as_list())
        cls = self.types[entity_name]
        home_rows = fetched[0]
        instances: list[Any] = []
        paths: list[tuple[Path, ...]] = []
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
                bases = item_paths[index]
            else:
                bases = ((*base_path, index),) if in_list else (base_path,)
            for fetch, rows in zip(plan.fetches, fetched, strict=False):
                if isinstance(rows, SourceUnavailable):
                    self._fail(context, fetch, bases, rows, values)
                    continue
                if isinstance(rows, BaseException):
                    raise rows
                self._fill(fetch, rows[index], values, refs, checks)
            instances.append(instance)
            paths.append(bases)
        await self._prefetch(info, plan, instances, paths)
        return instances

    async def _prefetch(
        self,
        info: GraphQLResolveInfo,
        plan: SelectionPlan,
        instances: list[Any],
        paths: list[tuple[Path, ...]],
    ) -> None:
        """Load the targets of every prefetchable reference for all instances at once, concurrently."""
        loads = []
        for fetch in plan.fetches:
            for fill in fetch.fills:
                if fill.target is None:
                    continue
                owners = [
                    (instance, bases)
                    for instance, bases in zip(instances, paths, strict=True)
                    if instance is not None and instance._refs.get(fill.name) is not None
                ]
                if owners:
                    loads.append(self._prefetch_one(info, fill, owners))
        if loads:
            await asyncio.gather(*loads)

    async def _prefetch_one(
        self, info: GraphQLResolveInfo, fill: Fill, owners: list[tuple[Any, tuple[Path, ...]]]
    ) -> None:
        assert fill.target is not None
        (relative,) = fill.paths
        targets = await self.load(
            info,
            fill.target,
            [instance._refs[fill.name] for instance, _ in owners],
            in_list=True,
            item_paths=[tuple((*base, *relative) for base in bases) for _, bases in owners],
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
        bases: tuple[Path, ...],
        error: SourceUnavailable,
        values: dict[str, Any],
    ) -> None:
        for fill in fetch.fills:
            if fill.kind != "check":
                values[fill.name] = None
            for base in bases:
                for relative in fill.paths:
                    context.path_errors.append(PathError((*base, *relative), error))

    def _plan(
        self,
        context: RequestContext,
        schema: GraphQLSchema,
        entity_name: str,
        field_nodes: Sequence[FieldNode],
    ) -> SelectionPlan:
        cache_key = (tuple(id(node) for node in field_nodes), entity_name)
        plan = context.plans.get(cache_key)
        if plan is None:
            plan = self.plan_selection(context, schema, entity_name, field_nodes)
            context.plans[cache_key] = plan
        return plan

    def plan_selection(
        self,
        context: RequestContext,
        schema: GraphQLSchema,
        entity_name: str,
        field_nodes: Sequence[FieldNode],
    ) -> SelectionPlan:
        """Which department columns the selection needs, read from the operation's one field collection."""
        entity = self.catalog.entities[entity_name]
        collection = context.collection
        operation_plan = context.plan
        selected = _by_name(collection.subfields_of_nodes(schema.get_type(entity_name), field_nodes))
        by_department: dict[str, list[Fill]] = {entity.home_department: []}
        for name, keyed in selected.items():
            catalog_field = self.bands[entity_name].get(name) or entity.fields.get(name)
            if catalog_field is None or catalog_field.kind not in ("scalar", "reference", "object"):
                continue
            if operation_plan is not None and operation_plan.denies(entity_name, name):
                continue
            transform = context.transforms.get(catalog_field.coordinate)
            if name != catalog_field.name:
                transform = mask_amount_band
            paths = tuple((key,) for key, _ in keyed)
            prefetch = catalog_field.kind == "reference" and len(keyed) == 1
            by_department.setdefault(catalog_field.department, []).append(
                Fill(
                    name,
                    catalog_field.kind,
                    catalog_field.column,
                    catalog_field.object_type,
                    paths,
                    transform,
                    catalog_field.type.name if prefetch else None,
                    tuple(keyed[0][1]) if prefetch else (),
                )
            )
        checks = None
        if "verify" in selected:
            checks = self.types[f"{entity_name}Checks"]
            checks_type = schema.get_type(f"{entity_name}Checks")
            for verify_key, verify_nodes in selected["verify"]:
                asked = _by_name(collection.subfields_of_nodes(checks_type, verify_nodes))
                for name, keyed in asked.items():
                    catalog_field = entity.fields.get(name)
                    if catalog_field is None or catalog_field.kind not in ("scalar", "reference"):
                        continue
                    rule = operation_plan.rules.get((checks_type.name, name)) if operation_plan else None
                    answered = [
                        key
                        for key, nodes in keyed
                        if rule is None or any(rule.denial_for(node) is None for node in nodes)
                    ]
                    if not answered:
                        continue
                    paths = tuple((verify_key, key) for key in answered)
                    by_department.setdefault(catalog_field.department, []).append(
                        Fill(name, "check", catalog_field.column, None, paths, None)
                    )
        fetches = []
        for department, fills in by_department.items():
            part = entity.parts[department]
            columns = tuple(dict.fromkeys(column for fill in fills for column in _columns(fill)))
            fetches.append(DepartmentFetch(department, part.table, part.key_column, columns, tuple(fills)))
        return SelectionPlan(entity, tuple(fetches), checks)


def _by_name(grouped: Mapping[str, Any]) -> dict[str, list[tuple[str, list[FieldNode]]]]:
    """Field name → (response key, field nodes) for each key it is selected under."""
    selected: dict[str, list[tuple[str, list[FieldNode]]]] = {}
    for key, details in grouped.items():
        nodes = [detail.node for detail in details]
        selected.setdefault(nodes[0].name.value, []).append((key, nodes))
    return selected


async def fetch_all(
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


def _columns(fill: Fill) -> tuple[str, ...]:
    if fill.object_type is not None:
        return fill.object_type.columns
    return (fill.column,)  # type: ignore[return-value]
