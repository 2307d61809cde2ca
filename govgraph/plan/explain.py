"""``explain``: what an operation will cost and expose for a principal, before it runs.

It reads the operation exactly as a request would (the one field collection,
the limits, the authorization plan, the compiled plan) and, instead of
running it, describes:

- every field coordinate the operation reaches, with its provider,
  classification and decision (read, mask with the mask's name, verify,
  deny with the reason);
- the statements each department will be sent, level by level: table, key
  column, columns, and for how many keys at the first level;
- the audit record: the fields it will list, the (entity, provider) pairs
  whose keys it will index, and whether the response waits for its commit;
- the operation's measure against every limit.

Nothing is fetched and nothing is recorded: no department or audit store is
touched. The result is plain data (``as_dict``) and text (``render``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import GraphQLError, parse, validate
from graphql.error import GraphQLSyntaxError

from govgraph.auth.principal import Principal
from govgraph.catalog.model import Catalog
from govgraph.operation.executor import GovgraphExecutor
from govgraph.operation.limits import Limits, check, measure
from govgraph.operation.prepare import apply, prepare_operation
from govgraph.plan.compile import try_compile
from govgraph.plan.steps import (
    Checks,
    CompiledOperation,
    EntityList,
    ObjectList,
    ObjectReference,
    ObjectValue,
    Question,
    Reference,
    RootEntities,
    RootLookup,
    Selection,
)
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.loaders import Loaders


@dataclass(frozen=True)
class FieldExposure:
    coordinate: str
    provider: str
    classification: str
    decision: str
    detail: str = ""
    """The mask's name, or why the field is denied where it is selected directly."""


@dataclass(frozen=True)
class DepartmentRequest:
    level: int
    department: str
    table: str
    key_column: str
    columns: tuple[str, ...]
    kind: str
    """``rows`` (one row per key) or ``lookup`` (the rows whose column holds the key)."""
    keys: int | None
    """How many keys, where the operation itself says (the first level); deeper levels depend on data."""
    reached_from: str
    entity: str
    """The entity whose keys the audit record indexes for this request."""


@dataclass
class Explanation:
    operation: str
    principal: Principal
    compiled: bool
    not_compiled_because: str | None
    refused: str | None
    fields: list[FieldExposure] = field(default_factory=list)
    requests: list[DepartmentRequest] = field(default_factory=list)
    audit_fields: list[FieldExposure] = field(default_factory=list)
    audit_entities: list[tuple[str, str]] = field(default_factory=list)
    waits_for_commit: bool = False
    measured: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Limit name → (measured, maximum)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "principal": {
                "roles": list(self.principal.roles),
                "department": self.principal.department,
                "purpose": self.principal.purpose,
            },
            "refused": self.refused,
            "compiled": self.compiled,
            "notCompiledBecause": self.not_compiled_because,
            "fields": [vars(item) for item in self.fields],
            "departments": [{**vars(item), "columns": list(item.columns)} for item in self.requests],
            "audit": {
                "recorded": bool(self.audit_fields),
                "waitsForCommit": self.waits_for_commit,
                "fields": [vars(item) for item in self.audit_fields],
                "entities": [{"type": kind, "provider": provider} for kind, provider in self.audit_entities],
            },
            "limits": {
                name: {"measured": value, "maximum": top} for name, (value, top) in self.measured.items()
            },
        }

    def render(self) -> str:
        return "\n".join(self._lines())

    def _lines(self) -> Iterator[str]:
        principal = self.principal
        yield f"operation  {self.operation}"
        yield (
            f"principal  role {', '.join(principal.roles) or '(none)'}, department "
            f"{principal.department or '(none)'}, purpose {principal.purpose or '(none)'}"
        )
        if self.refused is not None:
            yield f"refused    {self.refused}: nothing runs"
        yield ""
        yield "fields"
        width = max((len(item.coordinate) for item in self.fields), default=10)
        for item in self.fields:
            detail = f" ({item.detail})" if item.detail else ""
            yield (
                f"  {item.coordinate:<{width}}  {item.provider:<18} {item.classification:<12} "
                f"{item.decision}{detail}"
            )
        yield ""
        if self.compiled:
            yield "departments asked, level by level (one statement per line, for every key of the level)"
        else:
            yield f"runs through graphql-core, not a compiled plan ({self.not_compiled_because})"
        for item in self.requests:
            keys = (
                f"{item.keys} key{'s' if item.keys != 1 else ''}"
                if item.keys is not None
                else "keys found above"
            )
            verb = "rows by" if item.kind == "rows" else "lookup by"
            yield (
                f"  level {item.level}  {item.department:<18} {item.table} {verb} {item.key_column} "
                f"({keys}): {', '.join(item.columns)}  [{item.reached_from}]"
            )
        yield ""
        if not self.audit_fields:
            yield "audit      no record: the operation reads public data only"
        else:
            wait = (
                "the response waits for its commit (conditional or sensitive values)"
                if self.waits_for_commit
                else "committed (or journaled) before the response"
            )
            yield f"audit      one record; {wait}"
            for item in self.audit_fields:
                yield f"  field    {item.coordinate} ({item.provider}, {item.classification}): {item.decision}"
            for kind, provider in self.audit_entities:
                yield f"  indexes  {kind} keys read from {provider}"
        yield ""
        yield "limits     " + ", ".join(
            f"{name} {value} of {top}" for name, (value, top) in self.measured.items()
        )


class ExplainError(Exception):
    """The operation cannot be read (syntax, validation, variables): the messages say why."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors


def explain(
    app_state: Any,
    query: str,
    principal: Principal,
    *,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> Explanation:
    """``app_state``: a built app's state (``create_app(...).state``); nothing is started or opened."""
    graphql_schema = app_state.schema._schema
    catalog: Catalog = app_state.catalog
    limits: Limits = app_state.limits
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        raise ExplainError([error]) from None
    errors = validate(graphql_schema, document)
    if errors:
        raise ExplainError(list(errors))
    context = RequestContext(
        request_id="explain",
        loaders=Loaders({}),
        principal=principal,
        authorizer=app_state.authorizer,
        requirements=app_state.requirements,
        limits=limits,
        catalog=catalog,
        entities=app_state.schema.entity_loader,
    )
    executor = GovgraphExecutor.build(
        graphql_schema,
        document,
        context_value=context,
        raw_variable_values=variables or {},
        operation_name=operation_name,
    )
    if isinstance(executor, list):
        raise ExplainError(executor)
    collection = executor.collection
    operation = executor.operation
    name = f"{operation.operation.value} {operation.name.value if operation.name else '(anonymous)'}"
    measured = measure(collection, limits)
    explanation = Explanation(
        operation=name,
        principal=principal,
        compiled=False,
        not_compiled_because=None,
        refused=None,
        measured={
            "depth": (measured.depth, limits.max_depth),
            "aliases": (measured.aliases, limits.max_aliases),
            "keys": (measured.keys, limits.max_keys),
            "estimated cost": (measured.cost, limits.max_cost),
        },
    )
    refusal = check(collection, limits)
    prepared = prepare_operation(collection, context)
    if refusal is not None or prepared.refusal is not None:
        explanation.refused = (refusal or prepared.refusal).message  # type: ignore[union-attr]
        return explanation
    apply(prepared, collection, context)
    plan = context.plan
    for coordinate, decision in context.decisions.items():
        explanation.fields.append(_exposure(catalog, plan, coordinate, decision))
    compiled, reason = (
        try_compile(collection, context, context.entities, catalog)
        if operation.operation.value == "query"
        else (None, f"a {operation.operation.value} is not compiled")
    )
    explanation.compiled = compiled is not None
    explanation.not_compiled_because = reason
    if compiled is not None:
        explanation.requests = sorted(
            _requests(compiled, collection, catalog), key=lambda request: request.level
        )
    explanation.audit_fields = [item for item in explanation.fields if item.classification != "public"]
    explanation.waits_for_commit = any(
        item.decision != "deny" and item.classification in ("conditional", "sensitive")
        for item in explanation.audit_fields
    )
    explanation.audit_entities = sorted(
        {(request.entity, request.department) for request in explanation.requests}
    )
    return explanation


def _exposure(catalog: Catalog, plan: Any, coordinate: str, decision: str) -> FieldExposure:
    type_name, _, field_name = coordinate.partition(".")
    catalog_field = (
        catalog.entities[type_name].fields.get(field_name) if type_name in catalog.entities else None
    )
    detail = ""
    rule = plan.rules.get((type_name, field_name)) if plan is not None else None
    if rule is not None and rule.denial is not None:
        # Also for a field only answerable yes/no, asked both ways: the direct selection is denied.
        detail = (
            rule.denial.reason if decision == "deny" else f"selected directly: denied, {rule.denial.reason}"
        )
    if catalog_field is None:
        return FieldExposure(coordinate, "govgraph", "conditional", decision, detail)
    if decision == "mask" and catalog_field.mask:
        detail = f"mask: {catalog_field.mask}"
    return FieldExposure(coordinate, catalog_field.department, catalog_field.classification, decision, detail)


def _requests(compiled: CompiledOperation, collection: Any, catalog: Catalog) -> list[DepartmentRequest]:
    return _merged(_planned(compiled, collection, catalog))


def _merged(requests: Iterator[DepartmentRequest]) -> list[DepartmentRequest]:
    """Rows of one table by one key column in one level go out as one statement for all their columns
    (``Loaders.rows_of`` joins callers of the same tick), however differently they were reached."""
    merged: dict[tuple[Any, ...], DepartmentRequest] = {}
    for request in requests:
        if request.kind != "rows":
            merged[(id(request),)] = request
            continue
        key = (request.level, request.department, request.table, request.key_column)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = request
            continue
        merged[key] = replace(
            earlier,
            columns=tuple(dict.fromkeys((*earlier.columns, *request.columns))),
            keys=None if earlier.keys is None or request.keys is None else earlier.keys + request.keys,
            reached_from=f"{earlier.reached_from}, {request.reached_from}",
        )
    return list(merged.values())


def _planned(compiled: CompiledOperation, collection: Any, catalog: Catalog) -> Iterator[DepartmentRequest]:
    seen: set[tuple[Any, ...]] = set()
    for root in compiled.roots:
        if isinstance(root, RootLookup):
            (value,) = collection.arguments(root.field).values()
            keys = len(value) if root.many else 1
            yield from _unique(_selection(catalog, root.selection, 1, keys, f"Query.{root.field.name}"), seen)
        elif isinstance(root, RootEntities):
            for entity_name, selection in root.selections.items():
                yield from _unique(_selection(catalog, selection, 1, None, f"_entities({entity_name})"), seen)


def _unique(requests: Iterator[DepartmentRequest], seen: set[tuple[Any, ...]]) -> Iterator[DepartmentRequest]:
    for request in requests:
        key = (
            request.level,
            request.department,
            request.table,
            request.key_column,
            request.columns,
            request.kind,
        )
        if key not in seen:
            seen.add(key)
            yield request


def _selection(
    catalog: Catalog, selection: Selection, level: int, keys: int | None, reached_from: str
) -> Iterator[DepartmentRequest]:
    entity = selection.entity
    for fetch in selection.plan.fetches:
        yield DepartmentRequest(
            level,
            fetch.department,
            fetch.table,
            fetch.key_column,
            fetch.columns,
            "rows",
            keys,
            reached_from,
            entity,
        )
    for step in selection.fields:
        here = f"{entity}.{getattr(step, 'name', step.key)}"
        if isinstance(step, Reference):
            yield from _selection(catalog, step.target, level + 1, None, here)
        elif isinstance(step, EntityList):
            # A list's lookup needs only its parent's key: it is asked with the parent's own rows.
            yield DepartmentRequest(
                level,
                step.department,
                step.table,
                step.match,
                (step.column,),
                "lookup",
                keys,
                here,
                step.parent_entity,
            )
            yield from _selection(catalog, step.target, level + 1, None, here)
        elif isinstance(step, ObjectList):
            yield DepartmentRequest(
                level,
                step.department,
                step.table,
                step.match,
                step.columns,
                "lookup",
                keys,
                here,
                step.parent_entity,
            )
            yield from _object_references(catalog, step.fields, level + 1, here)
        elif isinstance(step, ObjectValue):
            yield from _object_references(catalog, step.fields, level + 1, here)
        elif isinstance(step, Checks):
            yield from _question_lookups(catalog, entity, step, level, keys)


def _question_lookups(
    catalog: Catalog, entity: str, checks: Checks, level: int, keys: int | None
) -> Iterator[DepartmentRequest]:
    """A yes/no question about a list (``properties(exists: true)``) is answered from its lookup."""
    fields = catalog.entities[entity].fields if entity in catalog.entities else {}
    for question in checks.fields:
        catalog_field = fields.get(question.name) if isinstance(question, Question) else None
        if catalog_field is None or catalog_field.lookup is None:
            continue
        lookup = catalog_field.lookup
        columns = (lookup.column,) if lookup.column else catalog_field.object_type.columns  # type: ignore[union-attr]
        yield DepartmentRequest(
            level,
            catalog_field.department,
            lookup.table,
            lookup.match,
            columns,
            "lookup",
            keys,
            catalog_field.coordinate,
            entity,
        )


def _object_references(
    catalog: Catalog, fields: Any, level: int, reached_from: str
) -> Iterator[DepartmentRequest]:
    for item in fields:
        if isinstance(item, ObjectReference):
            yield from _selection(catalog, item.target, level, None, f"{reached_from}.{item.key}")
