"""Strawberry types generated from the catalog: entities and object types.

Classes are created empty first, so references between them (Person.spouse,
Enterprise.legalRepresentative, Person.enterprises) can name real classes;
then fields are attached and each class is decorated. Leaf fields are plain
attributes with no resolver, so graphql-core takes its fast path. Every
field is nullable: a denied or unavailable value must not blank its parent.
"""

from __future__ import annotations

import inspect
import itertools
import types
from typing import Any, Optional

import strawberry
from strawberry.federation.schema_directives import Authenticated, RequiresScopes

from govgraph.auth.policy import Policy
from govgraph.catalog.model import Catalog, CatalogField, ObjectField
from govgraph.resolvers import fields as field_resolvers
from govgraph.resolvers.entities import EntityLoader
from govgraph.schema.checks import build_checks_type, checks_type_name
from govgraph.schema.descriptions import entity_description, field_description, object_description
from govgraph.schema.scalars import PYTHON_TYPES

_build_numbers = itertools.count(1)


def build_types(catalog: Catalog, entities: EntityLoader, policy: Policy | None = None) -> dict[str, type]:
    """Create, fill and decorate one class per entity and object type; returns them by GraphQL name.

    With ``policy``, fields carry their classification to a router in the SDL (``access_directives``)."""
    build = next(_build_numbers)
    classes: dict[str, type] = {}
    for name in [*catalog.entities, *catalog.objects]:
        cls = types.new_class(name, (), {})
        cls.__module__ = __name__
        cls.__qualname__ = f"{name}_{build}"
        classes[name] = cls

    for object_type in catalog.objects.values():
        cls = classes[object_type.name]
        for object_field in object_type.fields.values():
            _attach(cls, object_field.name, *_object_field(catalog, entities, classes, object_field))
        classes[object_type.name] = strawberry.type(
            cls, name=object_type.name, description=object_description(catalog, object_type)
        )

    for entity in catalog.entities.values():
        cls = classes[entity.name]
        for catalog_field in entity.fields.values():
            annotation, definition = _entity_field(catalog, entities, classes, catalog_field)
            if policy is not None:
                definition.directives = access_directives(catalog_field, policy)
            _attach(cls, catalog_field.name, annotation, definition)
            if catalog_field.band_name is not None:
                band = _band_field(catalog, catalog_field)
                if policy is not None:
                    band.directives = access_directives(catalog_field, policy, modes=("read", "mask"))
                _attach(cls, catalog_field.band_name, Optional[str], band)
        checks = build_checks_type(catalog, entity)
        if checks is not None:
            classes[checks_type_name(entity.name)] = checks
            _attach(
                cls,
                "verify",
                Optional[checks],
                strawberry.field(
                    default=None,
                    name="verify",
                    description=(
                        f"Yes/no checks on this {entity.name}'s fields, answered without revealing the values."
                    ),
                ),
            )
        classes[entity.name] = strawberry.federation.type(
            cls,
            name=entity.name,
            keys=[entity.key_field],
            description=entity_description(catalog, entity),
        )
    entities.types = classes
    return classes


NO_GRANT = "govgraph:no-grant"
"""The scope nobody holds: what a router is told a field needs when no role is granted it."""


def access_directives(
    catalog_field: CatalogField, policy: Policy, modes: tuple[str, ...] = ("read", "mask", "verify")
) -> list[object]:
    """What a router can enforce before govgraph decides: internal fields need an authenticated caller;
    conditional and sensitive ones also a scope naming one of the roles granted them (in ``modes``), so a
    token's ``scope`` claim should list its roles. govgraph decides every field itself all the same."""
    classification = catalog_field.classification
    if classification == "public":
        return []
    if classification == "internal":
        return [Authenticated()]
    coordinate = catalog_field.coordinate
    roles = sorted(
        role.name
        for role in policy.roles.values()
        if any(coordinate in grant.coordinates and grant.mode in modes for grant in role.grants)
    )
    return [Authenticated(), RequiresScopes(scopes=[[role] for role in roles] or [[NO_GRANT]])]


def _band_field(catalog: Catalog, catalog_field: CatalogField) -> Any:
    return strawberry.field(
        default=None,
        name=catalog_field.band_name,
        description=(
            f"{catalog_field.name} as a band such as 50000-100000, for roles granted the masked view. "
            + field_description(catalog, catalog_field)
        ),
    )


def _attach(cls: type, name: str, annotation: Any, definition: Any) -> None:
    cls.__annotations__ = {**inspect.get_annotations(cls), name: annotation}
    setattr(cls, name, definition)


def _entity_field(
    catalog: Catalog, entities: EntityLoader, classes: dict[str, type], catalog_field: CatalogField
) -> tuple[Any, Any]:
    description = field_description(catalog, catalog_field)
    name = catalog_field.name
    kind = catalog_field.kind
    if kind == "scalar":
        annotation = Optional[PYTHON_TYPES[catalog_field.type.name]]
        return annotation, strawberry.field(default=None, name=name, description=description)
    target = classes[catalog_field.type.name]
    if kind == "object":
        return Optional[target], strawberry.field(default=None, name=name, description=description)
    if kind == "reference":
        resolver = field_resolvers.reference_resolver(entities, name, catalog_field.type.name)
        annotation = Optional[target]
    elif kind == "entity_list":
        resolver = field_resolvers.entity_list_resolver(entities, catalog_field)
        annotation = Optional[list[Optional[target]]]
    else:
        resolver = field_resolvers.object_list_resolver(entities, catalog_field)
        annotation = Optional[list[target]]
    resolver.__annotations__ = {"root": Any, "info": strawberry.Info, "return": annotation}
    return annotation, strawberry.field(resolver=resolver, name=name, description=description)


def _object_field(
    catalog: Catalog, entities: EntityLoader, classes: dict[str, type], object_field: ObjectField
) -> tuple[Any, Any]:
    description = f"{object_field.description.en} ({object_field.description.zh})."
    name = object_field.name
    type_name = object_field.type.name
    if type_name in catalog.entities:
        annotation = Optional[classes[type_name]]
        resolver = field_resolvers.reference_resolver(entities, name, type_name)
        resolver.__annotations__ = {"root": Any, "info": strawberry.Info, "return": annotation}
        return annotation, strawberry.field(resolver=resolver, name=name, description=description)
    annotation = Optional[PYTHON_TYPES[type_name]]
    return annotation, strawberry.field(default=None, name=name, description=description)
