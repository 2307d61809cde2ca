"""``<Entity>Checks``: yes/no questions about an entity's fields.

``person(idNumber: ...) { verify { annualIncome(lt: 60000) properties(exists: true) } }``
answers ``true``/``false`` (``null`` when there is no record to compare)
without the value ever leaving govgraph. Roles granted ``verify`` (or
``read``) on a field may ask; the raw values sit only on the checks object.
A verify-only principal's questions also draw on its window budget
(``auth/questions.py``).
"""

import datetime
import inspect
from collections.abc import Callable
from typing import Any, Optional

import strawberry

from govgraph.auth.operation import question_signature
from govgraph.auth.questions import Question
from govgraph.auth.verify import check, check_presence
from govgraph.catalog.model import Catalog, CatalogField, Entity
from govgraph.errors import BadUserInput, Forbidden
from govgraph.resolvers.context import Refusal, RequestContext
from govgraph.schema.scalars import PYTHON_TYPES

ORDERED = ("eq", "ne", "lt", "lte", "gt", "gte")


def checks_type_name(entity_name: str) -> str:
    return f"{entity_name}Checks"


def build_checks_type(catalog: Catalog, entity: Entity) -> type | None:
    comparable = [catalog_field for catalog_field in entity.fields.values() if catalog_field.comparable]
    if not comparable:
        return None
    namespace: dict[str, Any] = {"__annotations__": {}}
    answers: dict[str, Any] = {}
    for catalog_field in comparable:
        resolver = _resolver(catalog, catalog_field)
        answers[catalog_field.name] = resolver
        namespace["__annotations__"][catalog_field.name] = Optional[bool]
        namespace[catalog_field.name] = strawberry.field(
            resolver=resolver,
            name=catalog_field.name,
            description=f"Yes/no check on {catalog_field.coordinate}: {catalog_field.description.en}.",
        )
    cls = type(checks_type_name(entity.name), (), namespace)
    cls.__module__ = __name__
    cls.answers = answers  # type: ignore[attr-defined]  # the plain resolvers, for the compiled plan
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
        arguments, answer = _scalar_answer(catalog_field)
    elif catalog_field.kind == "reference":
        arguments, answer = _reference_answer(catalog, catalog_field)
    else:
        arguments, answer = _list_answer(catalog_field)
    return _signed(_budgeted(catalog_field.coordinate, tuple(arguments), answer), arguments)


Answer = Callable[[Any, Any, dict[str, Any]], Any]
"""(checks object, resolve info, conditions) → the yes/no answer, or an awaitable of it."""


def _budgeted(coordinate: str, condition_names: tuple[str, ...], answer: Answer) -> Any:
    """The resolver: for a verify-only principal, each different question first draws on its window budget."""
    example = " or ".join(condition_names[:2])

    def resolve(root: Any, info: strawberry.Info, **conditions: Any) -> Any:
        if all(value is None for value in conditions.values()):
            raise BadUserInput(f"verify {coordinate} needs at least one condition, e.g. {example}")
        context: RequestContext = info.context
        plan = context.plan
        if plan is None or coordinate not in plan.verify_only or context.questions is None:
            return answer(root, info, conditions)
        return _ask_first(context, coordinate, root, info, conditions, answer)

    return resolve


async def _ask_first(
    context: RequestContext, coordinate: str, root: Any, info: Any, conditions: dict[str, Any], answer: Answer
) -> Any:
    window = context.questions
    key = str(root._key)
    question = Question(context.principal.subject or "", coordinate, key, question_signature(conditions))
    resets = await context.loaders.questions(window).load(question)
    if resets is not None:
        context.refusals.append(Refusal(coordinate, key))
        moment = datetime.datetime.fromtimestamp(resets, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise Forbidden(
            coordinate,
            f"at most {window.per_window} different yes/no questions about {coordinate} of one record "
            f"per {_duration(window.window)}; the window resets at {moment}",
        )
    value = answer(root, info, conditions)
    if inspect.isawaitable(value):
        value = await value
    return value


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def _scalar_answer(catalog_field: CatalogField) -> tuple[dict[str, Any], Answer]:
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

    def answer(root: Any, info: Any, conditions: dict[str, Any]) -> bool | None:
        return check(coordinate, root._values.get(name), conditions)

    return arguments, answer


def _reference_answer(catalog: Catalog, catalog_field: CatalogField) -> tuple[dict[str, Any], Answer]:
    name, coordinate = catalog_field.name, catalog_field.coordinate
    key_type = PYTHON_TYPES[catalog.entities[catalog_field.type.name].key_type]
    arguments = {"exists": Optional[bool], "eq": Optional[key_type]}

    def answer(root: Any, info: Any, conditions: dict[str, Any]) -> bool:
        value = root._values.get(name)
        exists, eq = conditions.get("exists"), conditions.get("eq")
        if eq is not None:
            return value == eq and (exists is None or exists)
        return check_presence(coordinate, 0 if value is None else 1, exists, None)

    return arguments, answer


def _list_answer(catalog_field: CatalogField) -> tuple[dict[str, Any], Answer]:
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

    async def answer(root: Any, info: Any, conditions: dict[str, Any]) -> bool:
        context: RequestContext = info.context
        rows = await context.loaders.lookup(department, table, match, columns).load(root._key)
        return check_presence(coordinate, len(rows), conditions.get("exists"), conditions.get("countAtLeast"))

    return arguments, answer


def _signed(function: Any, arguments: dict[str, Any]) -> Any:
    parameters = [
        inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Any),
        inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
    ]
    parameters.extend(
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in arguments.items()
    )
    function.__signature__ = inspect.Signature(parameters, return_annotation=Optional[bool])
    function.__annotations__ = {
        "info": strawberry.Info,
        "root": Any,
        **arguments,
        "return": Optional[bool],
    }
    return function
