"""``<Entity>Checks``: yes/no questions about an entity's fields.

``person(idNumber: ...) { verify { annualIncome(lt: 60000) properties(exists: true) } }``
answers ``true``/``false`` (``null`` when there is no record to compare)
without the value ever leaving govgraph. Roles granted ``verify`` (or
``read``) on a field may ask; the raw values sit only on the checks object.
"""

import datetime
import inspect
from typing import Any, Optional

import strawberry

from govgraph.auth.verify import check, check_presence
from govgraph.catalog.model import Catalog, CatalogField, Entity
from govgraph.resolvers.context import RequestContext
from govgraph.schema.scalars import PYTHON_TYPES

ORDERED = ("eq", "ne", "lt", "lte", "gt", "gte")


def checks_type_name(entity_name: str) -> str:
    return f"{entity_name}Checks"


def build_checks_type(catalog: Catalog, entity: Entity) -> type | None:
    comparable = [catalog_field for catalog_field in entity.fields.values() if catalog_field.comparable]
    if not comparable:
        return None
    namespace: dict[str, Any] = {"__annotations__": {}}
    for catalog_field in comparable:
        resolver = _resolver(catalog, catalog_field)
        namespace["__annotations__"][catalog_field.name] = Optional[bool]
        namespace[catalog_field.name] = strawberry.field(
            resolver=resolver,
            name=catalog_field.name,
            description=f"Yes/no check on {catalog_field.coordinate}: {catalog_field.description.en}.",
        )
    cls = type(checks_type_name(entity.name), (), namespace)
    cls.__module__ = __name__
    return strawberry.type(
        cls,
        name=checks_type_name(entity.name),
        description=(
            f"Yes/no checks on a {entity.name}'s fields. Each answers true or false (null when there is "
            "no record), never the value; available to roles granted verify or read on the field."
        ),
    )


def _resolver(catalog: Catalog, catalog_field: CatalogField) -> Any:
    if catalog_field.kind in ("scalar",):
        return _scalar_resolver(catalog_field)
    if catalog_field.kind == "reference":
        return _reference_resolver(catalog, catalog_field)
    return _list_resolver(catalog_field)


def _scalar_resolver(catalog_field: CatalogField) -> Any:
    name, coordinate = catalog_field.name, catalog_field.coordinate
    value_type = PYTHON_TYPES[catalog_field.type.name]
    if value_type is bool:
        arguments = {"eq": Optional[bool]}
    elif value_type in (int, float, datetime.date):
        arguments = {comparison: Optional[value_type] for comparison in ORDERED}
    else:
        arguments = {
            "eq": Optional[value_type],
            "ne": Optional[value_type],
            "oneOf": Optional[list[value_type]],
        }

    def resolve(root: Any, **conditions: Any) -> bool | None:
        return check(coordinate, root._values.get(name), conditions)

    return _signed(resolve, arguments, with_info=False)


def _reference_resolver(catalog: Catalog, catalog_field: CatalogField) -> Any:
    name, coordinate = catalog_field.name, catalog_field.coordinate
    key_type = PYTHON_TYPES[catalog.entities[catalog_field.type.name].key_type]
    arguments = {"exists": Optional[bool], "eq": Optional[key_type]}

    def resolve(root: Any, exists: bool | None = None, eq: Any = None) -> bool:
        value = root._values.get(name)
        if eq is not None:
            return value == eq and (exists is None or exists)
        return check_presence(coordinate, 0 if value is None else 1, exists, None)

    return _signed(resolve, arguments, with_info=False)


def _list_resolver(catalog_field: CatalogField) -> Any:
    lookup = catalog_field.lookup
    assert lookup is not None
    department, table, match, coordinate = (
        catalog_field.department,
        lookup.table,
        lookup.match,
        catalog_field.coordinate,
    )
    columns = (lookup.column,) if lookup.column else ()
    arguments = {"exists": Optional[bool], "countAtLeast": Optional[int]}

    async def resolve(
        root: Any, info: strawberry.Info, exists: bool | None = None, countAtLeast: int | None = None
    ) -> bool:
        if exists is None and countAtLeast is None:
            return check_presence(coordinate, 0, None, None)
        context: RequestContext = info.context
        rows = await context.loaders.lookup(department, table, match, columns).load(root._key)
        return check_presence(coordinate, len(rows), exists, countAtLeast)

    return _signed(resolve, arguments, with_info=True)


def _signed(function: Any, arguments: dict[str, Any], *, with_info: bool) -> Any:
    parameters = [inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Any)]
    if with_info:
        parameters.append(
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info)
        )
    parameters.extend(
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in arguments.items()
    )
    function.__signature__ = inspect.Signature(parameters, return_annotation=Optional[bool])
    function.__annotations__ = {
        **({"info": strawberry.Info} if with_info else {}),
        "root": Any,
        **arguments,
        "return": Optional[bool],
    }
    return function
