"""Compile an operation into a plan, from the same reading everything else uses.

The input is the operation's ``FieldCollection`` (graphql-core's own field
collection with this request's variables) and its authorization plan; the
columns each selection fetches come from the entity loader's own
``plan_selection``. So the plan asks the departments exactly what the
graphql-core path asks, decides exactly what it decides, and differs only in
how values reach the response: projected straight from rows, instead of
completed field by field.

Operations the plan does not cover (introspection, ``me``, ``catalog``, the
oversight fields, ``_service``, the enterprise directory) compile to ``None``
and run through graphql-core, which stays the reference.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type
from graphql.type.scalars import serialize_boolean, serialize_string

from govgraph.catalog.model import Catalog, ObjectType
from govgraph.operation.collection import FieldCollection, SelectedField
from govgraph.plan.projector import leaf_projector
from govgraph.plan.steps import (
    Checks,
    CompiledOperation,
    Denied,
    EntityList,
    Leaf,
    ObjectField,
    ObjectLeaf,
    ObjectList,
    ObjectReference,
    ObjectValue,
    Question,
    Reference,
    Root,
    RootEntities,
    RootLookup,
    Selection,
    Step,
    Typename,
    reads_one_level,
)
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.entities import EntityLoader
from govgraph.schema.root import entity_root_fields


class Unsupported(Exception):
    """A field the plan does not cover: the operation runs through graphql-core."""


def compile_operation(
    collection: FieldCollection, context: RequestContext, entities: EntityLoader, catalog: Catalog
) -> CompiledOperation | None:
    return try_compile(collection, context, entities, catalog)[0]


def try_compile(
    collection: FieldCollection, context: RequestContext, entities: EntityLoader, catalog: Catalog
) -> tuple[CompiledOperation | None, str | None]:
    """The compiled plan, or ``None`` and the first field it does not cover."""
    compiler = _Compiler(collection, context, entities, catalog)
    try:
        roots = tuple(
            compiler.root(field) for field in collection.selected(collection.root_type, collection.root())
        )
    except Unsupported as unsupported:
        return None, f"{unsupported} is not covered by compiled plans"
    one_level = len(roots) == 1 and isinstance(roots[0], RootLookup) and reads_one_level(roots[0].selection)
    return CompiledOperation(roots, collection.operation, one_level), None


class _Compiler:
    def __init__(
        self, collection: FieldCollection, context: RequestContext, entities: EntityLoader, catalog: Catalog
    ) -> None:
        self.collection = collection
        self.schema: GraphQLSchema = collection.schema
        self.context = context
        self.entities = entities
        self.catalog = catalog
        self.rules = context.plan.rules if context.plan is not None else {}
        self.lookups = entity_root_fields(catalog)
        self.lookups.pop("enterpriseDirectory", None)

    def root(self, field: SelectedField) -> Root:
        key, name = field.response_key, field.name
        if name == "__typename":
            return Typename(key, self.collection.root_type.name)
        if name != "_entities" and name not in self.lookups:
            raise Unsupported(name)
        denied = self._denied(field, "Query")
        if denied is not None:
            return denied
        rule = self.rules.get(("Query", name))
        if name == "_entities":
            possible = self.collection.runtime_types(field.definition.type)  # type: ignore[union-attr]
            selections = {
                object_type.name: self.selection(object_type.name, field) for object_type in possible
            }
            protected = rule.protected_items if rule is not None else frozenset()
            return RootEntities(key, field, selections, protected, tuple(field.nodes))
        entity = self.lookups.get(name)
        if entity is None:
            raise Unsupported(name)
        return RootLookup(
            key,
            entity,
            _is_list(field.definition.type),  # type: ignore[union-attr]
            field,
            self.selection(entity, field),
            rule is not None and rule.protected,
            tuple(field.nodes),
        )

    def selection(self, entity_name: str, holder: SelectedField) -> Selection:
        """The selection under ``holder`` (the field whose value is the entity), for one entity type."""
        entity = self.catalog.entities[entity_name]
        plan = self.entities.plan_selection(self.context, self.schema, entity_name, holder.nodes)
        fills: dict[tuple[str, bool], tuple[int, Any]] = {}
        for index, fetch in enumerate(plan.fetches):
            for fill in fetch.fills:
                fills[(fill.name, fill.kind == "check")] = (index, fill)
        object_type = self._object_type(entity_name)
        steps: list[Step] = []
        for field in self.collection.selected(
            object_type, self.collection.subfields(object_type, holder.details)
        ):
            key, name = field.response_key, field.name
            if name == "__typename":
                steps.append(Typename(key, entity_name))
                continue
            denied = self._denied(field, entity_name)
            if denied is not None:
                steps.append(denied)
                continue
            if name == "verify":
                steps.append(self._checks(entity_name, field))
                continue
            catalog_field = self.entities.bands[entity_name].get(name) or entity.fields.get(name)
            if catalog_field is None:
                raise Unsupported(f"{entity_name}.{name}")
            protected = self._protected(entity_name, name)
            nodes = tuple(field.nodes)
            kind = catalog_field.kind
            if kind == "scalar":
                fetch, fill = fills[(name, False)]
                steps.append(
                    Leaf(
                        key,
                        name,
                        fetch,
                        fill.column,
                        fill.transform,
                        *self._serialize(field),
                        protected,
                        nodes,
                    )
                )
            elif kind == "object":
                fetch, fill = fills[(name, False)]
                object_spec = catalog_field.object_type
                assert object_spec is not None
                steps.append(
                    ObjectValue(
                        key,
                        name,
                        fetch,
                        object_spec.columns,
                        self._object_fields(object_spec, field),
                        protected,
                        nodes,
                    )
                )
            elif kind == "reference":
                fetch, fill = fills[(name, False)]
                target = self.selection(catalog_field.type.name, field)
                steps.append(Reference(key, name, fetch, fill.column, target, protected, nodes))
            elif kind == "entity_list":
                lookup = catalog_field.lookup
                assert lookup is not None and lookup.column is not None
                target = self.selection(catalog_field.type.name, field)
                steps.append(
                    EntityList(
                        key,
                        catalog_field.entity,
                        catalog_field.department,
                        lookup.table,
                        lookup.match,
                        lookup.column,
                        target,
                        protected,
                        nodes,
                    )
                )
            elif kind == "object_list":
                lookup, object_spec = catalog_field.lookup, catalog_field.object_type
                assert lookup is not None and object_spec is not None
                steps.append(
                    ObjectList(
                        key,
                        catalog_field.entity,
                        catalog_field.department,
                        lookup.table,
                        lookup.match,
                        object_spec.columns,
                        self._object_fields(object_spec, field),
                        protected,
                        nodes,
                    )
                )
            else:
                raise Unsupported(f"{entity_name}.{name}")
        return Selection(entity_name, plan, tuple(steps), leaf_projector(steps))

    def _checks(self, entity_name: str, holder: SelectedField) -> Checks:
        checks_type = self._object_type(f"{entity_name}Checks")
        answers = self.entities.types[checks_type.name].answers  # type: ignore[attr-defined]
        steps: list[Question | Denied | Typename] = []
        for field in self.collection.selected(
            checks_type, self.collection.subfields(checks_type, holder.details)
        ):
            if field.name == "__typename":
                steps.append(Typename(field.response_key, checks_type.name))
                continue
            denied = self._denied(field, checks_type.name)
            if denied is not None:
                steps.append(denied)
                continue
            steps.append(
                Question(
                    field.response_key,
                    field.name,
                    field,
                    answers[field.name],
                    self._protected(checks_type.name, field.name),
                    tuple(field.nodes),
                )
            )
        return Checks(holder.response_key, tuple(steps))

    def _object_fields(self, object_spec: ObjectType, holder: SelectedField) -> tuple[ObjectField, ...]:
        object_type = self._object_type(object_spec.name)
        steps: list[ObjectField] = []
        for field in self.collection.selected(
            object_type, self.collection.subfields(object_type, holder.details)
        ):
            if field.name == "__typename":
                steps.append(Typename(field.response_key, object_type.name))
                continue
            spec = object_spec.fields[field.name]
            if spec.type.name in self.catalog.entities:
                target = self.selection(spec.type.name, field)
                steps.append(ObjectReference(field.response_key, spec.column, target, tuple(field.nodes)))
            else:
                steps.append(
                    ObjectLeaf(field.response_key, spec.column, *self._serialize(field), tuple(field.nodes))
                )
        return tuple(steps)

    def _denied(self, field: SelectedField, type_name: str) -> Denied | None:
        rule = self.rules.get((type_name, field.name))
        if rule is None:
            return None
        denial = rule.denial_for(field.details[0].node)
        return Denied(field.response_key, denial, tuple(field.nodes)) if denial is not None else None

    def _protected(self, type_name: str, name: str) -> bool:
        rule = self.rules.get((type_name, name))
        return rule is not None and rule.protected

    def _object_type(self, name: str) -> GraphQLObjectType:
        object_type = self.schema.get_type(name)
        assert isinstance(object_type, GraphQLObjectType)
        return object_type

    def _serialize(self, field: SelectedField) -> tuple[Any, type | None]:
        """The field type's serializer, and the Python type it passes through unchanged."""
        assert field.definition is not None
        serialize = get_named_type(field.definition.type).serialize  # type: ignore[union-attr]
        return serialize, PASSTHROUGH.get(serialize)


PASSTHROUGH: dict[Any, type] = {serialize_string: str, str: str, serialize_boolean: bool}
"""Serializers that return a value of this exact type as it is."""


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)
