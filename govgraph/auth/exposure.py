"""Protections a role's other grants undo: a personal-data category masked here, read in full there.

A policy that masks ``Person.registeredAddress`` for a role, but lets the
same role read ``Property.address`` in full through ``Person.properties``,
protects nothing: the property's location is often the same address. The
catalog says which personal-data category each field carries (``category``);
for every role and purpose, this walks the fields the role can reach from
each entity (through references, lists and objects it may itself read) and
reports each category that is masked or verify-only in one field and read
in full in another. ``govgraph catalog check`` prints the findings; the
server logs them at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from govgraph.auth.policy import Policy, Role
from govgraph.catalog.model import Catalog, CatalogField

PARTIAL = ("mask", "verify")
_RANK = {"read": 3, "mask": 2, "verify": 1}


@dataclass(frozen=True, slots=True)
class Exposure:
    role: str
    purpose: str | None
    category: str
    protected: str
    """The coordinate given partially (masked or verify-only)."""
    mode: str
    exposed: str
    """The coordinate of the same category read in full."""
    entity: str
    """The entity from which both are reachable."""

    @property
    def message(self) -> str:
        purpose = f" for {self.purpose}" if self.purpose else ""
        partial = "masked" if self.mode == "mask" else "verify-only"
        return (
            f"role {self.role}{purpose}: {self.category} data is {partial} in {self.protected} "
            f"but read in full in {self.exposed}, both reachable from {self.entity}"
        )


def find_exposures(catalog: Catalog, policy: Policy) -> list[Exposure]:
    found: dict[tuple[str, str | None, str, str], Exposure] = {}
    for role in policy.roles.values():
        for purpose in _purposes(role):
            modes = _modes(catalog, role, purpose)
            for entity in catalog.entities:
                reachable = _reachable(catalog, entity, modes)
                by_category: dict[str, list[CatalogField]] = {}
                for catalog_field in reachable:
                    if catalog_field.category is not None:
                        by_category.setdefault(catalog_field.category, []).append(catalog_field)
                for category, fields in sorted(by_category.items()):
                    partial = [item for item in fields if modes.get(item.coordinate) in PARTIAL]
                    full = [item for item in fields if modes.get(item.coordinate) == "read"]
                    for protected in partial:
                        for exposed in full:
                            key = (role.name, purpose, protected.coordinate, exposed.coordinate)
                            found.setdefault(
                                key,
                                Exposure(
                                    role.name,
                                    purpose,
                                    category,
                                    protected.coordinate,
                                    modes[protected.coordinate],
                                    exposed.coordinate,
                                    entity,
                                ),
                            )
    return sorted(
        found.values(), key=lambda item: (item.role, item.purpose or "", item.protected, item.exposed)
    )


def _purposes(role: Role) -> list[str | None]:
    named = sorted({purpose for grant in role.grants for purpose in grant.purposes or ()})
    return named or [None]


def _modes(catalog: Catalog, role: Role, purpose: str | None) -> dict[str, str]:
    """Coordinate → what the role gets for this purpose: read, mask or verify (absent: denied)."""
    modes: dict[str, str] = {}
    for catalog_field in catalog.fields():
        if catalog_field.classification == "public" or (
            catalog_field.classification == "internal" and role.department is not None
        ):
            modes[catalog_field.coordinate] = "read"
    for grant in role.grants:
        if grant.purposes is not None and purpose not in grant.purposes:
            continue
        for coordinate in grant.coordinates:
            current = modes.get(coordinate)
            if current is None or _RANK[grant.mode] > _RANK[current]:
                modes[coordinate] = grant.mode
    return modes


def _reachable(catalog: Catalog, start: str, modes: dict[str, str]) -> list[CatalogField]:
    """Every field the role can reach from ``start``, following only the links it may itself read."""
    seen_entities = {start}
    pending = [start]
    fields: dict[str, CatalogField] = {}
    while pending:
        entity = catalog.entities[pending.pop()]
        for catalog_field in entity.fields.values():
            fields[catalog_field.coordinate] = catalog_field
            if modes.get(catalog_field.coordinate) != "read":
                continue
            for target in _targets(catalog, catalog_field):
                if target not in seen_entities:
                    seen_entities.add(target)
                    pending.append(target)
    return list(fields.values())


def _targets(catalog: Catalog, catalog_field: CatalogField) -> list[str]:
    if catalog_field.type.name in catalog.entities:
        return [catalog_field.type.name]
    if catalog_field.object_type is not None:
        return [
            object_field.type.name
            for object_field in catalog_field.object_type.fields.values()
            if object_field.type.name in catalog.entities
        ]
    return []
