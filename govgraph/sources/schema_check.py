"""Check each department's source against the catalog: every table and column it names exists, of a type
that holds the catalog's.

The loader checks a catalog on its own; only the department can say whether
``birth_dt`` is a column of its ``residents``. Without this check a
misspelt column passes ``catalog check`` and readiness, and every query of
that department fails. Each problem names the catalog file and the key path
that names the table or column, as ``CatalogError`` does.

- SQL departments are reflected (SQLAlchemy's inspector, on a connection of
  the check's own, one per database when several are checked together; a
  SQLite file is opened read-only so a missing one is not created). PostgreSQL types are held to the catalog's; SQLite's declared
  types are only affinities, so there the check accepts what SQLite and
  SQLAlchemy convert on reading (booleans in integers, dates in text).
- A JSON API publishes no schema: only whether it answers is checked.
- A GraphQL subgraph's SDL (``_service { sdl }``) is read when it publishes
  it, and each table's type, key and column paths are looked up in it.
"""

from __future__ import annotations

import asyncio
import difflib
import sqlite3
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import graphql
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from govgraph.catalog.model import Catalog, Department
from govgraph.catalog.specs import GraphQLSourceSpec, HttpSourceSpec, SqlSourceSpec
from govgraph.diagnostics import describe
from govgraph.errors import CatalogError, SourceUnavailable
from govgraph.sources.base import Source
from govgraph.sources.engines import existing_sqlite_file
from govgraph.sources.graphql import GraphQLSource

Status = Literal["ok", "misconfigured", "unavailable"]

CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
SHOWN_NAMES = 12
"""Names of what a table or type does have, listed after a problem."""

TEXT = frozenset({"text"})
POSTGRESQL_HOLDS: dict[str, frozenset[str]] = {
    "String": TEXT,
    "IdNumber": TEXT,
    "CreditCode": TEXT,
    "Int": frozenset({"integer", "number"}),
    "Float": frozenset({"number", "integer"}),
    "Boolean": frozenset({"boolean"}),
    "Date": frozenset({"date"}),
}
SQLITE_HOLDS: dict[str, frozenset[str]] = {
    "String": frozenset({"text", "date", "datetime"}),
    "IdNumber": TEXT,
    "CreditCode": TEXT,
    "Int": frozenset({"integer", "number", "boolean"}),
    "Float": frozenset({"number", "integer"}),
    "Boolean": frozenset({"boolean", "integer", "number"}),
    "Date": frozenset({"date", "datetime", "text"}),
}
KINDS = {
    "text": "text",
    "integer": "integer",
    "number": "numeric",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamp",
}


@dataclass(frozen=True, slots=True)
class DepartmentReport:
    department: str
    status: Status
    problems: tuple[str, ...] = ()
    checked: str = "tables and columns"
    """What was checked: ``tables and columns``, ``subgraph SDL`` or ``reachability only (...)``."""

    @property
    def conclusive(self) -> bool:
        """Whether the source answered, so that its report holds until the catalog or the source changes."""
        return self.status != "unavailable"

    def as_json(self) -> dict[str, Any]:
        if self.status == "ok":
            return {"status": "ok", "checked": self.checked}
        if self.status == "misconfigured":
            return {"status": "misconfigured", "problems": list(self.problems)}
        return {"status": "unavailable", "problem": self.problems[0] if self.problems else "unavailable"}


@dataclass(frozen=True, slots=True)
class _Reflected:
    schema_missing: bool = False
    tables: frozenset[str] = frozenset()
    columns: dict[str, dict[str, sa.types.TypeEngine[Any]]] = field(default_factory=dict)


async def check_sources(
    catalog: Catalog,
    sources: Mapping[str, Source],
    *,
    timeout: float,
    connect_timeout: float,
    departments: Iterable[Department] | None = None,
) -> dict[str, DepartmentReport]:
    """The reports of ``departments`` (default: all), checked side by side, each within ``timeout`` seconds;
    departments in one database take turns on one connection."""
    engines: dict[str, AsyncEngine] = {}

    async def bounded(department: Department) -> DepartmentReport:
        try:
            async with asyncio.timeout(timeout):
                return await check_department(
                    catalog,
                    department,
                    sources.get(department.id),
                    connect_timeout=connect_timeout,
                    engines=engines,
                )
        except TimeoutError:
            return unreachable(department, f"no answer within {timeout:g}s")

    chosen = catalog.departments.values() if departments is None else departments
    try:
        reports = await asyncio.gather(*(bounded(department) for department in chosen))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines.values()))
    return {report.department: report for report in reports}


async def check_department(
    catalog: Catalog,
    department: Department,
    source: Source | None,
    *,
    connect_timeout: float,
    engines: dict[str, AsyncEngine] | None = None,
) -> DepartmentReport:
    """One department's report. ``engines``: SQL engines by URL to share, which the caller disposes of;
    without, a SQL department is checked on a connection of its own, closed after."""
    spec = department.source
    if isinstance(spec, SqlSourceSpec):
        return await _check_sql(catalog, department, spec, connect_timeout, engines)
    if source is None:
        return unreachable(department, "no source was built for it")
    try:
        await source.check()
    except SourceUnavailable as error:
        return unreachable(department, error.reason)
    service = getattr(source, "source", source)
    if isinstance(spec, HttpSourceSpec) or not isinstance(service, GraphQLSource):
        return DepartmentReport(
            department.id, "ok", checked="reachability only (a JSON API publishes no schema)"
        )
    try:
        sdl = await service.service_sdl()
    except SourceUnavailable as error:
        return unreachable(department, error.reason)
    if sdl is None:
        return DepartmentReport(
            department.id, "ok", checked="reachability only (the subgraph does not publish its SDL)"
        )
    return _against_sdl(department, spec, sdl)


def unreachable(department: Department, reason: str) -> DepartmentReport:
    """The report of a department that did not answer; ``reason`` is scrubbed already (``describe``)."""
    problem = CatalogError(
        department.file, "source.url", f"department {department.id} cannot be reached: {reason}"
    )
    return DepartmentReport(department.id, "unavailable", (problem.message,))


async def _check_sql(
    catalog: Catalog,
    department: Department,
    spec: SqlSourceSpec,
    connect_timeout: float,
    engines: dict[str, AsyncEngine] | None,
) -> DepartmentReport:
    engine = engines.get(spec.url) if engines is not None else None
    if engine is None:
        url = existing_sqlite_file(spec.url, "ro") if spec.url.startswith("sqlite") else spec.url
        options: dict[str, Any] = {"connect_args": {"timeout": connect_timeout}}
        if engines is None:
            options["poolclass"] = NullPool
        else:
            options.update(pool_size=1, max_overflow=0)
        engine = create_async_engine(url, **options)
        if engines is not None:
            engines[spec.url] = engine
    try:
        async with engine.connect() as connection:
            reflected = await connection.run_sync(_reflect, spec.db_schema, tuple(department.tables))
            dialect = connection.dialect
    except CONNECT_ERRORS as error:
        return unreachable(department, describe(error))
    finally:
        if engines is None:
            await engine.dispose()
    problems = list(_compare(catalog, department, spec.db_schema, reflected, dialect))
    return DepartmentReport(department.id, "misconfigured" if problems else "ok", tuple(problems))


def _reflect(connection: sa.Connection, schema: str | None, tables: tuple[str, ...]) -> _Reflected:
    inspector = sa.inspect(connection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)  # types it does not know: NullType, accepted
        if schema is not None and schema not in inspector.get_schema_names():
            return _Reflected(schema_missing=True)
        names = {*inspector.get_table_names(schema=schema), *inspector.get_view_names(schema=schema)}
        folded = {_fold(connection.dialect, name): name for name in names}
        columns = {}
        for table in tables:
            actual = folded.get(_fold(connection.dialect, table))
            if actual is not None:
                columns[table] = {
                    column["name"]: column["type"] for column in inspector.get_columns(actual, schema=schema)
                }
    return _Reflected(False, frozenset(names), columns)


def _fold(dialect: Dialect, name: str) -> str:
    """SQLite's names are case-insensitive; PostgreSQL's, as govgraph quotes them, are not."""
    return name.lower() if dialect.name == "sqlite" else name


def _compare(
    catalog: Catalog, department: Department, schema: str | None, reflected: _Reflected, dialect: Dialect
) -> Iterable[str]:
    origins = _origins(catalog, department.id)

    def problem(table: str, column: str | None, text: str) -> str:
        fallback = f"tables.{table}.columns.{column}" if column else f"tables.{table}"
        return CatalogError(department.file, origins.get((table, column), fallback), text).message

    if reflected.schema_missing:
        yield CatalogError(
            department.file, "source.schema", f"no such schema {schema} in the database"
        ).message
        return
    holds = POSTGRESQL_HOLDS if dialect.name == "postgresql" else SQLITE_HOLDS
    where = f" in schema {schema}" if schema else ""
    for table, columns in department.tables.items():
        found = reflected.columns.get(table)
        if found is None:
            yield problem(table, None, f"no such table {table}{where}{_hint(table, reflected.tables)}")
            continue
        by_name = {_fold(dialect, name): (name, type_) for name, type_ in found.items()}
        for column, catalog_type in columns.items():
            match = by_name.get(_fold(dialect, column))
            if match is None:
                yield problem(
                    table, column, f"no such column {column} in table {table}{_hint(column, found)}"
                )
                continue
            name, type_ = match
            kind = _kind(type_)
            accepted = holds[catalog_type]
            if kind is not None and kind not in accepted:
                kinds = [KINDS[each] for each in sorted(accepted, key=list(KINDS).index)]
                needs = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
                article = "an" if needs[0] in "aeiou" else "a"
                yield problem(
                    table,
                    column,
                    f"column {table}.{name} is {_type_name(type_, dialect)} in the database, "
                    f"but the catalog's {catalog_type} needs {article} {needs} column",
                )


def _hint(name: str, candidates: Iterable[str]) -> str:
    """``; did you mean birth_date? (it has: ...)`` for a misspelt name."""
    names = sorted(candidates)
    if not names:
        return " (it has none)"
    closest = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    shown = ", ".join(names[:SHOWN_NAMES]) + (", ..." if len(names) > SHOWN_NAMES else "")
    return (f"; did you mean {closest[0]}?" if closest else "") + f" (it has: {shown})"


def _kind(type_: sa.types.TypeEngine[Any]) -> str | None:
    """The family of a reflected type; ``None`` for an undeclared or unknown one, which is not held against it."""
    if isinstance(type_, sa.types.NullType):
        return None
    for kind, family in (
        ("boolean", sa.Boolean),
        ("integer", sa.Integer),
        ("number", (sa.Numeric, sa.Float)),  # SQLAlchemy 2.1's Float is no Numeric
        ("datetime", sa.DateTime),
        ("date", sa.Date),
        ("text", sa.String),
    ):
        if isinstance(type_, family):
            return kind
    return "other"


def _type_name(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a reflected type the dialect cannot render: its class says enough
        return type(type_).__name__


def _origins(catalog: Catalog, department: str) -> dict[tuple[str, str | None], str]:
    """Where in the department's file each table (column ``None``) and column it reads is named."""
    origins: dict[tuple[str, str | None], str] = {}
    for entity in catalog.entities.values():
        part = entity.parts.get(department)
        if part is None:
            continue
        origins.setdefault((part.table, None), f"entities.{entity.name}.table")
        origins.setdefault((part.table, part.key_column), f"entities.{entity.name}.key")
        for catalog_field in entity.fields.values():
            if catalog_field.department != department:
                continue
            where = f"entities.{entity.name}.fields.{catalog_field.name}"
            if catalog_field.column is not None:
                origins.setdefault((catalog_field.table, catalog_field.column), f"{where}.column")
            lookup = catalog_field.lookup
            if lookup is not None:
                origins.setdefault((lookup.table, None), f"{where}.lookup.table")
                origins.setdefault((lookup.table, lookup.match), f"{where}.lookup.match")
                if lookup.column is not None:
                    origins.setdefault((lookup.table, lookup.column), f"{where}.lookup.column")
            object_type = catalog_field.object_type
            if object_type is not None:
                table = lookup.table if lookup is not None else catalog_field.table
                for name, object_field in object_type.fields.items():
                    origins.setdefault(
                        (table, object_field.column), f"objects.{object_type.name}.fields.{name}.column"
                    )
    return origins


def _against_sdl(department: Department, spec: GraphQLSourceSpec, sdl: str) -> DepartmentReport:
    try:
        document = graphql.parse(sdl)
    except graphql.GraphQLError:
        return DepartmentReport(
            department.id, "ok", checked="reachability only (the subgraph's SDL does not parse)"
        )
    types: dict[str, dict[str, str]] = {}
    for definition in document.definitions:
        if isinstance(
            definition,
            graphql.ObjectTypeDefinitionNode
            | graphql.ObjectTypeExtensionNode
            | graphql.InterfaceTypeDefinitionNode
            | graphql.InterfaceTypeExtensionNode,
        ):
            fields = types.setdefault(definition.name.value, {})
            for field_node in definition.fields or ():
                fields[field_node.name.value] = _named_type(field_node.type)
    problems = []
    for table, table_spec in spec.tables.items():
        where = f"source.tables.{table}"
        if table_spec.type not in types:
            text = f"the subgraph has no type {table_spec.type}{_hint(table_spec.type, types)}"
            problems.append(CatalogError(department.file, f"{where}.type", text).message)
            continue
        paths = {
            "key": table_spec.key,
            **{f"columns.{column}": path for column, path in table_spec.columns.items()},
        }
        for key, path in paths.items():
            missing = _missing_field(types, table_spec.type, path)
            if missing is not None:
                problems.append(CatalogError(department.file, f"{where}.{key}", missing).message)
    return DepartmentReport(
        department.id, "misconfigured" if problems else "ok", tuple(problems), "subgraph SDL"
    )


def _missing_field(types: Mapping[str, Mapping[str, str]], type_name: str, path: str) -> str | None:
    current = type_name
    for part in path.split("."):
        fields = types.get(current, {})
        if part not in fields:
            return f"the subgraph's type {current} has no field {part}{_hint(part, fields)}"
        current = fields[part]
    return None


def _named_type(node: graphql.TypeNode) -> str:
    while isinstance(node, graphql.NonNullTypeNode | graphql.ListTypeNode):
        node = node.type
    assert isinstance(node, graphql.NamedTypeNode)
    return node.name.value
