"""The resolved catalog: what every other layer reads.

Built once at start-up by ``loader.load_catalog`` from the validated YAML
specs. Everything here is frozen; hot paths only look things up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from govgraph.catalog.frequency import Frequency, default_ttl
from govgraph.catalog.specs import Category, Classification, MaskName, SourceSpec, Text

SCALARS = frozenset({"String", "Int", "Float", "Boolean", "Date", "IdNumber", "CreditCode"})

FieldKind = Literal["scalar", "reference", "object", "entity_list", "object_list"]


@dataclass(frozen=True, slots=True)
class TypeRef:
    name: str
    is_list: bool = False

    @classmethod
    def parse(cls, text: str) -> TypeRef:
        if text.startswith("["):
            return cls(text[1:-1], True)
        return cls(text)

    def __str__(self) -> str:
        return f"[{self.name}]" if self.is_list else self.name


@dataclass(frozen=True, slots=True)
class ObjectField:
    name: str
    type: TypeRef
    column: str
    description: Text


@dataclass(frozen=True, slots=True)
class ObjectType:
    name: str
    department: str
    description: Text
    fields: dict[str, ObjectField]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(object_field.column for object_field in self.fields.values())


@dataclass(frozen=True, slots=True)
class Lookup:
    """Rows of ``table`` whose ``match`` column equals the parent's key."""

    table: str
    match: str
    column: str | None


@dataclass(frozen=True, slots=True)
class CatalogField:
    entity: str
    name: str
    department: str
    type: TypeRef
    kind: FieldKind
    classification: Classification
    frequency: Frequency
    cache_ttl: int | None
    mask: MaskName | None
    description: Text
    table: str
    key_column: str
    column: str | None = None
    lookup: Lookup | None = None
    object_type: ObjectType | None = None
    category: Category | None = None
    subscribable: bool = False

    @property
    def coordinate(self) -> str:
        return f"{self.entity}.{self.name}"

    @property
    def band_name(self) -> str | None:
        """The sibling field that serves this amount as a band (``annualIncomeBand``), if masked so."""
        return f"{self.name}Band" if self.mask == "amount_band" else None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the department's entity table this field reads."""
        if self.kind in ("scalar", "reference"):
            return (self.column,)  # type: ignore[return-value]
        if self.kind == "object":
            return self.object_type.columns  # type: ignore[union-attr]
        return ()

    @property
    def ttl(self) -> int | None:
        if self.frequency == "realtime":
            return None
        return self.cache_ttl or default_ttl(self.frequency)

    @property
    def comparable(self) -> bool:
        """Whether a yes/no question can be asked of it: scalars, references and lists."""
        return self.kind in ("scalar", "reference", "entity_list", "object_list")


@dataclass(frozen=True, slots=True)
class EntityPart:
    department: str
    table: str
    key_column: str


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    key_field: str
    key_type: str
    description: Text
    home_department: str
    fields: dict[str, CatalogField]
    parts: dict[str, EntityPart]

    @property
    def home(self) -> EntityPart:
        return self.parts[self.home_department]


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: Text
    description: Text | None
    source: SourceSpec
    frequency: Frequency
    file: str
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    """Every table govgraph reads from this department, with each column's catalog type."""


@dataclass(frozen=True, slots=True)
class Catalog:
    directory: str
    departments: dict[str, Department]
    entities: dict[str, Entity]
    objects: dict[str, ObjectType]
    hidden: frozenset[str] = frozenset()
    """Coordinates classified ``not_shared``: they exist in sources, never in the schema."""

    def field(self, coordinate: str) -> CatalogField:
        entity, _, name = coordinate.partition(".")
        return self.entities[entity].fields[name]

    def fields(self) -> list[CatalogField]:
        return [field for entity in self.entities.values() for field in entity.fields.values()]

    def subscribable(self) -> list[CatalogField]:
        return [field for field in self.fields() if field.subscribable]
