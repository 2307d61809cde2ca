"""Load a catalog directory into a resolved, validated ``Catalog``.

A catalog directory holds ``entities.yaml`` (the shared entities and their
keys) and ``departments/*.yaml`` (one file per department). Every problem
stops loading with a ``CatalogError`` naming the file and the key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from govgraph.catalog.frequency import default_ttl
from govgraph.catalog.interpolate import MissingVariable, interpolate
from govgraph.catalog.model import (
    SCALARS,
    Catalog,
    CatalogField,
    Department,
    Entity,
    EntityPart,
    FieldKind,
    Lookup,
    ObjectField,
    ObjectType,
    TypeRef,
)
from govgraph.catalog.specs import (
    DepartmentSpec,
    EntitiesFileSpec,
    FieldSpec,
    GraphQLSourceSpec,
    HttpSourceSpec,
)
from govgraph.errors import CatalogError

ENTITIES_FILE = "entities.yaml"
DEPARTMENTS_DIR = "departments"
SUPPORTED_URL_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")

SpecT = TypeVar("SpecT", bound=BaseModel)


def load_catalog(directory: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Catalog:
    root = Path(directory)
    if not root.is_dir():
        raise CatalogError(str(root), "", "catalog directory not found")
    environment = os.environ if env is None else env
    entities_spec = _parse(root / ENTITIES_FILE, EntitiesFileSpec, root)
    department_files = sorted((root / DEPARTMENTS_DIR).glob("*.yaml"))
    if not department_files:
        raise CatalogError(_relative(root / DEPARTMENTS_DIR, root), "", "no department files (*.yaml)")
    departments = [
        (_relative(path, root), _parse(path, DepartmentSpec, root, environment)) for path in department_files
    ]
    return _compile(root, entities_spec, departments)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _parse(path: Path, spec: type[SpecT], root: Path, env: Mapping[str, str] | None = None) -> SpecT:
    name = _relative(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(name, "", "file not found") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise CatalogError(name, where, f"invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise CatalogError(name, "", "expected a mapping at the top level")
    if env is not None and isinstance(data.get("source"), dict):
        data["source"] = _interpolate_source(name, data["source"], env)
    try:
        return spec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key_path = ".".join(str(part) for part in first["loc"])
        raise CatalogError(name, key_path, first["msg"]) from None


def _interpolate_source(file: str, source: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    resolved = dict(source)
    for key, value in source.items():
        if isinstance(value, str):
            try:
                resolved[key] = interpolate(value, env)
            except MissingVariable as error:
                raise CatalogError(file, f"source.{key}", str(error)) from None
    url = resolved.get("url")
    sql = resolved.get("kind") == "sql"
    if sql and isinstance(url, str) and url and not url.startswith(SUPPORTED_URL_SCHEMES):
        raise CatalogError(
            file,
            "source.url",
            "unsupported URL scheme; expected sqlite+aiosqlite:// or postgresql+asyncpg://",
        )
    if resolved.get("schema") == "":
        resolved["schema"] = None
    return resolved


def _compile(
    root: Path, entities_spec: EntitiesFileSpec, departments: list[tuple[str, DepartmentSpec]]
) -> Catalog:
    entities_file = _relative(root / ENTITIES_FILE, root)
    entity_names = set(entities_spec.entities)
    for name, entity in entities_spec.entities.items():
        if name in SCALARS:
            raise CatalogError(entities_file, f"entities.{name}", "an entity cannot be named like a scalar")
        if entity.key_type not in SCALARS:
            raise CatalogError(
                entities_file, f"entities.{name}.key_type", f"unknown scalar {entity.key_type}"
            )

    objects: dict[str, ObjectType] = {}
    seen_departments: dict[str, str] = {}
    for file, department in departments:
        if department.id in seen_departments:
            raise CatalogError(
                file, "id", f"department {department.id} is also defined in {seen_departments[department.id]}"
            )
        seen_departments[department.id] = file
        for object_name, object_spec in department.objects.items():
            where = f"objects.{object_name}"
            if object_name in objects or object_name in entity_names or object_name in SCALARS:
                raise CatalogError(file, where, f"type name {object_name} is already taken")
            object_fields = {}
            for field_name, object_field in object_spec.fields.items():
                type_ref = TypeRef.parse(object_field.type)
                if type_ref.is_list or (type_ref.name not in SCALARS and type_ref.name not in entity_names):
                    raise CatalogError(
                        file, f"{where}.fields.{field_name}.type", f"unknown type {object_field.type}"
                    )
                object_fields[field_name] = ObjectField(
                    field_name, type_ref, object_field.column, object_field.description
                )
            objects[object_name] = ObjectType(
                object_name, department.id, object_spec.description, object_fields
            )

    fields: dict[str, dict[str, CatalogField]] = {name: {} for name in entity_names}
    claimed_by: dict[str, str] = {}
    parts: dict[str, dict[str, EntityPart]] = {name: {} for name in entity_names}
    tables: dict[str, dict[str, dict[str, str]]] = {department.id: {} for _, department in departments}
    hidden: set[str] = set()
    for file, department in departments:
        for entity_name, part in department.entities.items():
            where = f"entities.{entity_name}"
            if entity_name not in entity_names:
                raise CatalogError(
                    file, where, f"unknown entity {entity_name}; entities are declared in {ENTITIES_FILE}"
                )
            parts[entity_name][department.id] = EntityPart(department.id, part.table, part.key)
            entity_spec = entities_spec.entities[entity_name]
            _add_column(tables, department.id, part.table, part.key, entity_spec.key_type)
            for field_name, spec in part.fields.items():
                field_where = f"{where}.fields.{field_name}"
                coordinate = f"{entity_name}.{field_name}"
                if spec.classification == "secret":
                    raise CatalogError(
                        file,
                        f"{field_where}.classification",
                        f"{coordinate} is classified secret: the sharing system carries no state secrets",
                    )
                if coordinate in claimed_by:
                    raise CatalogError(
                        file, field_where, f"{coordinate} is already provided by {claimed_by[coordinate]}"
                    )
                claimed_by[coordinate] = f"department {department.id} ({file})"
                if spec.classification == "not_shared":
                    if spec.subscribable:
                        raise CatalogError(
                            file,
                            f"{field_where}.subscribable",
                            f"{coordinate} is not_shared, so no one can subscribe to it",
                        )
                    hidden.add(coordinate)
                    continue
                compiled = _compile_field(
                    file, field_where, department, entity_name, part, field_name, spec, entity_names, objects
                )
                fields[entity_name][field_name] = compiled
                for column in compiled.columns:
                    _add_column(tables, department.id, part.table, column, _column_type(compiled, column))
                if compiled.lookup is not None:
                    _add_lookup_columns(
                        tables, department.id, compiled, entities_spec.entities[entity_name].key_type
                    )

    compiled_entities = {}
    for entity_name, entity_spec in entities_spec.entities.items():
        key_field = fields[entity_name].get(entity_spec.key)
        if key_field is None:
            raise CatalogError(
                entities_file,
                f"entities.{entity_name}.key",
                f"no department provides the key field {entity_name}.{entity_spec.key}",
            )
        if key_field.type.name != entity_spec.key_type or key_field.kind != "scalar":
            raise CatalogError(
                entities_file,
                f"entities.{entity_name}.key",
                f"{entity_name}.{entity_spec.key} must have type {entity_spec.key_type}",
            )
        home = parts[entity_name][key_field.department]
        if key_field.column != home.key_column:
            raise CatalogError(
                seen_departments[key_field.department],
                f"entities.{entity_name}.fields.{entity_spec.key}.column",
                f"the key field must read the key column {home.key_column}",
            )
        home_first = sorted(
            fields[entity_name].values(), key=lambda item: item.department != key_field.department
        )
        compiled_entities[entity_name] = Entity(
            entity_name,
            entity_spec.key,
            entity_spec.key_type,
            entity_spec.description,
            key_field.department,
            {catalog_field.name: catalog_field for catalog_field in home_first},
            parts[entity_name],
        )

    key_types = {name: spec.key_type for name, spec in entities_spec.entities.items()}
    for department_tables in tables.values():
        for columns in department_tables.values():
            for column, type_name in columns.items():
                columns[column] = key_types.get(type_name, type_name)
    compiled_departments = {
        department.id: Department(
            department.id,
            department.name,
            department.description,
            department.source,
            department.frequency,
            file,
            tables[department.id],
        )
        for file, department in departments
    }
    for department in compiled_departments.values():
        if isinstance(department.source, HttpSourceSpec | GraphQLSourceSpec):
            _check_service(department, department.source, compiled_entities)
    return Catalog(str(root), compiled_departments, compiled_entities, objects, frozenset(hidden))


def _check_service(
    department: Department, source: HttpSourceSpec | GraphQLSourceSpec, entities: dict[str, Entity]
) -> None:
    """A department behind a service must say where every table, column and lookup govgraph reads comes from."""
    for table, columns in department.tables.items():
        spec = source.tables.get(table)
        if spec is None:
            raise CatalogError(
                department.file, f"source.tables.{table}", "missing: govgraph reads this table"
            )
        for column in columns:
            if column not in spec.columns:
                raise CatalogError(
                    department.file,
                    f"source.tables.{table}.columns.{column}",
                    "missing: govgraph reads this column",
                )
        for match, endpoint in getattr(spec, "lookups", {}).items():
            if endpoint.path.count("{key}") != 1:
                raise CatalogError(
                    department.file,
                    f"source.tables.{table}.lookups.{match}.path",
                    "must hold {key} exactly once",
                )
    for entity in entities.values():
        for catalog_field in entity.fields.values():
            if (
                catalog_field.department == department.id
                and catalog_field.subscribable
                and not source.changes
            ):
                raise CatalogError(
                    department.file,
                    f"entities.{entity.name}.fields.{catalog_field.name}.subscribable",
                    f"{catalog_field.coordinate} comes from a service ({source.kind}), which has no change "
                    "table: add source.changes, the webhook the department calls when a record changes",
                )
            lookup = catalog_field.lookup
            if catalog_field.department != department.id or lookup is None:
                continue
            if isinstance(source, GraphQLSourceSpec):
                raise CatalogError(
                    department.file,
                    "source.kind",
                    f"a GraphQL department cannot serve lookups yet, and {catalog_field.coordinate} "
                    f"looks up {lookup.table} by {lookup.match}",
                )
            if lookup.match not in source.tables[lookup.table].lookups:
                raise CatalogError(
                    department.file,
                    f"source.tables.{lookup.table}.lookups.{lookup.match}",
                    f"missing: {catalog_field.coordinate} looks up {lookup.table} by {lookup.match}",
                )


def _compile_field(
    file: str,
    where: str,
    department: DepartmentSpec,
    entity_name: str,
    part: Any,
    field_name: str,
    spec: FieldSpec,
    entity_names: set[str],
    objects: dict[str, ObjectType],
) -> CatalogField:
    type_ref = TypeRef.parse(spec.type)
    kind = _kind(file, where, type_ref, spec, entity_names, objects, department.id)
    frequency = spec.frequency or department.frequency
    if spec.cache_ttl is not None:
        period = default_ttl(frequency)
        if period is None:
            raise CatalogError(
                file, f"{where}.cache_ttl", "a realtime field is never cached, so it takes no cache_ttl"
            )
        if spec.cache_ttl > period:
            raise CatalogError(
                file,
                f"{where}.cache_ttl",
                f"cache_ttl {spec.cache_ttl}s is longer than the {frequency} period ({period}s)",
            )
    if spec.mask is not None and kind not in ("scalar",):
        raise CatalogError(file, f"{where}.mask", "only scalar fields can be masked")
    lookup = Lookup(spec.lookup.table, spec.lookup.match, spec.lookup.column) if spec.lookup else None
    if kind == "entity_list" and (lookup is None or lookup.column is None):
        raise CatalogError(
            file, f"{where}.lookup.column", "a list of entities needs the column holding their key"
        )
    if kind == "object_list" and lookup is not None and lookup.column is not None:
        raise CatalogError(file, f"{where}.lookup.column", "a list of objects reads the object's own columns")
    if kind == "object" and spec.column is not None:
        raise CatalogError(file, f"{where}.column", "an object field reads the object's own columns")
    if kind in ("scalar", "reference") and spec.column is None:
        raise CatalogError(file, f"{where}.column", "field required")
    if spec.subscribable and kind not in ("scalar", "reference"):
        raise CatalogError(
            file, f"{where}.subscribable", "only a field read from one column can be subscribable"
        )
    return CatalogField(
        entity=entity_name,
        name=field_name,
        department=department.id,
        type=type_ref,
        kind=kind,
        classification=spec.classification,
        frequency=frequency,
        cache_ttl=spec.cache_ttl,
        mask=spec.mask,
        description=spec.description,
        table=part.table,
        key_column=part.key,
        column=spec.column,
        lookup=lookup,
        object_type=objects.get(type_ref.name),
        category=spec.category,
        subscribable=spec.subscribable,
    )


def _kind(
    file: str,
    where: str,
    type_ref: TypeRef,
    spec: FieldSpec,
    entity_names: set[str],
    objects: dict[str, ObjectType],
    department_id: str,
) -> FieldKind:
    name = type_ref.name
    if name in objects and objects[name].department != department_id:
        raise CatalogError(
            file, f"{where}.type", f"object type {name} belongs to department {objects[name].department}"
        )
    if type_ref.is_list:
        if name in entity_names:
            return "entity_list"
        if name in objects:
            return "object_list"
        raise CatalogError(
            file, f"{where}.type", f"unknown type {type_ref}; a list holds entities or objects"
        )
    if name in SCALARS:
        return "scalar"
    if name in entity_names:
        return "reference"
    if name in objects:
        return "object"
    raise CatalogError(file, f"{where}.type", f"unknown type {type_ref}")


def _column_type(catalog_field: CatalogField, column: str) -> str:
    if catalog_field.kind == "object":
        for object_field in catalog_field.object_type.fields.values():  # type: ignore[union-attr]
            if object_field.column == column:
                return object_field.type.name
    return catalog_field.type.name


def _add_lookup_columns(
    tables: dict[str, dict[str, dict[str, str]]],
    department: str,
    catalog_field: CatalogField,
    parent_key_type: str,
) -> None:
    lookup = catalog_field.lookup
    assert lookup is not None
    _add_column(tables, department, lookup.table, lookup.match, parent_key_type)
    if catalog_field.kind == "entity_list" and lookup.column:
        _add_column(tables, department, lookup.table, lookup.column, catalog_field.type.name)
    if catalog_field.object_type is not None:
        for object_field in catalog_field.object_type.fields.values():
            _add_column(tables, department, lookup.table, object_field.column, object_field.type.name)


def _add_column(
    tables: dict[str, dict[str, dict[str, str]]], department: str, table: str, column: str, type_name: str
) -> None:
    tables[department].setdefault(table, {})[column] = type_name
