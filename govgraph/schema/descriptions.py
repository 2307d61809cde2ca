"""Field and type descriptions for GraphiQL's docs, written from the catalog."""

from __future__ import annotations

from govgraph.catalog.model import Catalog, CatalogField, Entity, ObjectType


def field_description(catalog: Catalog, catalog_field: CatalogField) -> str:
    department = catalog.departments[catalog_field.department]
    return (
        f"{catalog_field.description.en} ({catalog_field.description.zh}).\n\n"
        f"Provided by {department.name.en} ({department.name.zh}, `{department.id}`). "
        f"Classification: `{catalog_field.classification}`. Updated: `{catalog_field.frequency}`."
    )


def entity_description(catalog: Catalog, entity: Entity) -> str:
    providers = sorted({catalog_field.department for catalog_field in entity.fields.values()})
    return (
        f"{entity.description.en} ({entity.description.zh}). Keyed by `{entity.key_field}`; "
        f"joined from: {', '.join(providers)}."
    )


def object_description(catalog: Catalog, object_type: ObjectType) -> str:
    department = catalog.departments[object_type.department]
    return (
        f"{object_type.description.en} ({object_type.description.zh}). "
        f"Provided by {department.name.en} (`{department.id}`)."
    )
