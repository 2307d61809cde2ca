"""Which policy coordinate, and which kind of access, each schema field needs.

Built once from the catalog. Fields that expose no department data
(``__typename``, connection plumbing, object sub-fields whose parent was
already decided) need nothing and are absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from govgraph.catalog.model import Catalog

Need = Literal["value", "band", "verify", "key", "operation"]


@dataclass(frozen=True, slots=True)
class Requirement:
    coordinate: str
    need: Need
    band_name: str | None = None


def build_requirements(
    catalog: Catalog, root_fields: dict[str, str], operations: Iterable[str]
) -> dict[tuple[str, str], Requirement]:
    """(GraphQL type, field) → requirement; ``root_fields`` maps root field names to entity names."""
    requirements: dict[tuple[str, str], Requirement] = {}
    for entity in catalog.entities.values():
        for catalog_field in entity.fields.values():
            coordinate = catalog_field.coordinate
            requirements[(entity.name, catalog_field.name)] = Requirement(
                coordinate, "value", catalog_field.band_name
            )
            if catalog_field.band_name is not None:
                requirements[(entity.name, catalog_field.band_name)] = Requirement(coordinate, "band")
            if catalog_field.comparable:
                requirements[(f"{entity.name}Checks", catalog_field.name)] = Requirement(coordinate, "verify")
    for field_name, entity_name in root_fields.items():
        entity = catalog.entities[entity_name]
        requirements[("Query", field_name)] = Requirement(f"{entity.name}.{entity.key_field}", "key")
    for coordinate in operations:
        type_name, _, field_name = coordinate.partition(".")
        requirements[(type_name, field_name)] = Requirement(coordinate, "operation")
    return requirements
