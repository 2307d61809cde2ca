"""A subscription document, checked and decided once: what it watches, and the query each event runs.

``subscription { changes(entity: Person, fields: [deceased], purpose: "subsistence-review") { key
changedFields at person { name deceased } } }`` becomes:

- the watched fields, narrowed to those the subscriber may read, mask or
  verify for that purpose (naming one it may not see is refused: knowing
  that a value changed is itself information);
- the event's own fields (``key``, ``changedFields``, ...) in response order;
- a query, ``query GovgraphChange($govgraphKey: IdNumber!) { person(idNumber:
  $govgraphKey) { name deceased } }``, that each delivery runs as the
  subscriber through the query path: the same authorization, masking,
  verify, cache bypass and audit as any query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_variable_values,
)
from graphql.language import Visitor

from govgraph.auth.decisions import Authorizer
from govgraph.auth.masks import MASKS
from govgraph.auth.policy import Policy
from govgraph.auth.principal import Principal
from govgraph.catalog.model import Catalog, CatalogField
from govgraph.errors import Forbidden, GovgraphError
from govgraph.events.change import Change
from govgraph.schema.root import singular

MAX_DOCUMENT = 20_000
"""Characters; a subscription is one field and a selection, and the query it runs has its own limits."""
EVENT_FIELDS = frozenset({"key", "entity", "department", "changedFields", "at", "__typename"})


class SubscriptionRefused(GovgraphError):
    """The document cannot be subscribed to; ``errors`` holds every reason, as GraphQL errors do."""

    code = "BAD_USER_INPUT"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(error["message"] for error in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Subscription:
    principal: Principal
    """The subscriber, with the subscription's purpose."""
    entity: str
    fields: tuple[str, ...]
    """The watched fields the subscriber may see, in catalog order."""
    decisions: Mapping[str, str]
    """Coordinate of each watched field → read, mask or verify: what a notification of it tells."""
    response_key: str
    """Where the event goes in ``data``: ``changes`` or its alias."""
    event_fields: tuple[tuple[str, str], ...]
    """(response key, event field) in response order; entity fields included."""
    entity_keys: tuple[str, ...]
    """Response keys of this entity's field (``person``): the query fills them."""
    query: str
    """The query a delivery runs, with ``$govgraphKey`` (``KEY_VARIABLE``) for the changed record's key."""
    key_variable: str
    variables: Mapping[str, Any]
    """The subscriber's variables that the query uses."""
    mask_key: Callable[[str], str] | None
    departments: frozenset[str]
    watched_columns: Mapping[str, tuple[str, frozenset[str]]]
    """Field → its department, and the columns whose change is a change of the field."""

    def changed(self, change: Change) -> tuple[str, ...]:
        """The watched fields this change touched; empty when it is not the subscriber's business."""
        if change.entity != self.entity or change.department not in self.departments:
            return ()
        columns = set(change.columns)
        return tuple(
            name
            for name in self.fields
            if self.watched_columns[name][0] == change.department
            and self.watched_columns[name][1].intersection(columns)
        )

    def event_key(self, key: str) -> str:
        return self.mask_key(key) if self.mask_key is not None else key


def subscribe(
    schema: GraphQLSchema,
    catalog: Catalog,
    policy: Policy,
    authorizer: Authorizer | None,
    principal: Principal,
    document: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> Subscription:
    """Check and decide a subscription, or raise ``SubscriptionRefused`` with the reasons."""
    if not isinstance(document, str) or not document.strip():
        raise _refused("a subscription needs a query: subscription { changes(entity: ...) { key } }")
    if len(document) > MAX_DOCUMENT:
        raise _refused(f"the subscription document is longer than {MAX_DOCUMENT} characters")
    if variables is not None and not isinstance(variables, dict):
        raise _refused("variables must be a JSON object")
    try:
        parsed = parse(document)
    except GraphQLError as error:
        raise SubscriptionRefused([_error(error.message, "GRAPHQL_PARSE_FAILED")]) from None
    problems = validate(schema, parsed)
    if problems:
        raise SubscriptionRefused([_error(error.message, "GRAPHQL_VALIDATION_FAILED") for error in problems])
    operation = _operation(parsed, operation_name)
    fragments = {
        definition.name.value: definition
        for definition in parsed.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        raise SubscriptionRefused([_error(error.message, "BAD_USER_INPUT") for error in coerced])
    subscription_type = schema.subscription_type
    assert subscription_type is not None  # validation passed, so the schema has one
    root = [node for node in _collect(operation.selection_set, fragments, coerced, "Subscription")]
    ((response_key, nodes),) = _grouped(root)  # validation: a subscription has exactly one root field
    field_node = nodes[0]
    arguments = get_argument_values(subscription_type.fields["changes"], field_node, coerced)
    entity_name = _enum_name(arguments["entity"])
    purpose = _purpose(principal, arguments.get("purpose"), policy)
    subscriber = principal.with_purpose(purpose)
    entity = catalog.entities[entity_name]
    watchable = [f for f in entity.fields.values() if f.subscribable]
    asked = arguments.get("fields")
    fields, decisions = _watched(entity_name, watchable, asked, subscriber, authorizer)
    key_field = entity.fields[entity.key_field]
    mask_key = _key_mask(key_field, subscriber, authorizer, purpose)
    selections = [selection for node in nodes for selection in node.selection_set.selections]
    event = _grouped(
        _collect(SelectionSetNode(selections=tuple(selections)), fragments, coerced, "ChangeEvent")
    )
    entity_field = singular(entity)
    event_fields = tuple((key, field_nodes[0].name.value) for key, field_nodes in event)
    entity_keys = tuple(key for key, field_nodes in event if field_nodes[0].name.value == entity_field)
    query, key_variable, used = _query(
        schema, operation, fragments, entity, [(key, nodes) for key, nodes in event if key in entity_keys]
    )
    return Subscription(
        principal=subscriber,
        entity=entity_name,
        fields=fields,
        decisions=decisions,
        response_key=response_key,
        event_fields=event_fields,
        entity_keys=entity_keys,
        query=query,
        key_variable=key_variable,
        variables={name: value for name, value in (variables or {}).items() if name in used},
        mask_key=mask_key,
        departments=frozenset(f.department for f in watchable if f.name in fields),
        watched_columns={f.name: (f.department, frozenset(f.columns)) for f in watchable},
    )


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _refused(message: str, code: str = "BAD_USER_INPUT") -> SubscriptionRefused:
    return SubscriptionRefused([_error(message, code)])


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
        if not operations:
            raise _refused(f"no operation named {name[:64]} in the document")
    elif len(operations) > 1:
        raise _refused("the document holds several operations: name the one to run (operationName)")
    operation = operations[0]
    if operation.operation != OperationType.SUBSCRIPTION:
        raise _refused(
            f"this endpoint streams subscriptions; send a {operation.operation.value} as an HTTP POST to /graphql"
        )
    return operation


def _included(node: Any, variables: VariableValues) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip is not None and skip["if"] is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include is not None and include["if"] is False)


def _collect(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: VariableValues,
    type_name: str,
    visited: frozenset[str] = frozenset(),
) -> Iterator[FieldNode]:
    """The fields of a selection on ``type_name``, through fragments and ``@skip``/``@include``."""
    for selection in selection_set.selections:
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value == type_name:
                yield from _collect(selection.selection_set, fragments, variables, type_name, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if (
                fragment is not None
                and name not in visited
                and fragment.type_condition.name.value == type_name
            ):
                yield from _collect(fragment.selection_set, fragments, variables, type_name, visited | {name})


def _grouped(nodes: Iterator[FieldNode] | list[FieldNode]) -> list[tuple[str, list[FieldNode]]]:
    groups: dict[str, list[FieldNode]] = {}
    for node in nodes:
        key = node.alias.value if node.alias else node.name.value
        groups.setdefault(key, []).append(node)
    return list(groups.items())


def _enum_name(value: Any) -> str:
    return value.value if hasattr(value, "value") else str(value)


def _purpose(principal: Principal, stated: str | None, policy: Policy) -> str:
    if stated is not None and principal.purpose is not None and stated != principal.purpose:
        raise _refused(
            f"purpose {stated[:64]} contradicts the token, which binds purpose {principal.purpose}"
        )
    purpose = stated or principal.purpose
    if not purpose:
        raise _refused(
            'a subscription states its purpose: changes(entity: ..., purpose: "...") or the token\'s purpose claim'
        )
    if purpose not in policy.purposes:
        raise _refused(
            f"unknown purpose {purpose[:64]}; known purposes: {', '.join(sorted(policy.purposes))}"
        )
    return purpose


def _watched(
    entity: str,
    watchable: list[CatalogField],
    asked: list[Any] | None,
    subscriber: Principal,
    authorizer: Authorizer | None,
) -> tuple[tuple[str, ...], dict[str, str]]:
    by_name = {f.name: f for f in watchable}
    if asked is not None:
        names = list(dict.fromkeys(_enum_name(value) for value in asked))
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise _refused(
                f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not subscribable on {entity}; "
                f"subscribable: {', '.join(by_name) or 'none'}"
            )
        if not names:
            raise _refused("fields is empty: name at least one field to watch, or leave fields out")
    else:
        names = list(by_name)
    decisions: dict[str, str] = {}
    denied: list[str] = []
    for name in names:
        coordinate = f"{entity}.{name}"
        access = authorizer.decide(subscriber, coordinate).access if authorizer is not None else "read"
        if access == "deny":
            denied.append(coordinate)
        else:
            decisions[coordinate] = access
    if denied and asked is not None:
        raise Forbidden(
            ", ".join(denied),
            f"may not be watched for purpose {subscriber.purpose}: no read, mask or verify grant",
        )
    if not decisions:
        raise Forbidden(
            f"{entity} changes",
            f"no subscribable field of {entity} is granted for purpose {subscriber.purpose}",
        )
    fields = tuple(name for name in by_name if f"{entity}.{name}" in decisions)
    return fields, decisions


def _key_mask(
    key_field: CatalogField, subscriber: Principal, authorizer: Authorizer | None, purpose: str
) -> Callable[[str], str] | None:
    if authorizer is None:
        return None
    access = authorizer.decide(subscriber, key_field.coordinate).access
    if access == "read":
        return None
    if access == "mask" and key_field.mask is not None:
        return MASKS[key_field.mask]
    raise Forbidden(
        key_field.coordinate,
        f"an event names the changed record by its key, which is not granted for purpose {purpose}",
    )


def _query(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    entity: Any,
    groups: list[tuple[str, list[FieldNode]]],
) -> tuple[str, str, set[str]]:
    """The query a delivery runs, its key variable, and the subscriber's variables it uses."""
    root_name = singular(entity)
    defined = {
        definition.variable.name.value: definition for definition in operation.variable_definitions or ()
    }
    key_variable = "govgraphKey"
    while key_variable in defined:
        key_variable += "_"
    argument = ArgumentNode(
        name=NameNode(value=entity.key_field), value=VariableNode(name=NameNode(value=key_variable))
    )
    typename = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())
    roots = [
        FieldNode(
            alias=NameNode(value=key),
            name=NameNode(value=root_name),
            arguments=(argument,),
            directives=(),
            selection_set=SelectionSetNode(
                selections=tuple(
                    s for node in nodes if node.selection_set for s in node.selection_set.selections
                )
            ),
        )
        for key, nodes in groups
    ] or [
        FieldNode(
            name=NameNode(value=root_name),
            arguments=(argument,),
            directives=(),
            selection_set=SelectionSetNode(selections=(typename,)),
        )
    ]
    selection_set = SelectionSetNode(selections=tuple(roots))
    used_fragments = _fragments_used(selection_set, fragments)
    used = _variables_used([selection_set, *(fragments[name] for name in used_fragments)])
    key_type = schema.query_type.fields[root_name].args[entity.key_field].type  # type: ignore[union-attr]
    named = getattr(key_type, "of_type", key_type)
    definitions = [
        VariableDefinitionNode(
            variable=VariableNode(name=NameNode(value=key_variable)),
            type=NonNullTypeNode(type=NamedTypeNode(name=NameNode(value=named.name))),
            directives=(),
        ),
        *(defined[name] for name in defined if name in used),
    ]
    query = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=NameNode(value="GovgraphChange"),
        variable_definitions=tuple(definitions),
        directives=(),
        selection_set=selection_set,
    )
    document = DocumentNode(definitions=(query, *(fragments[name] for name in used_fragments)))
    return print_ast(document), key_variable, used


def _fragments_used(node: Any, fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Names of the fragments a node spreads, directly or through other fragments."""
    found: list[str] = []
    pending = [node]
    while pending:
        for name in _spreads(pending.pop()):
            if name not in found and name in fragments:
                found.append(name)
                pending.append(fragments[name])
    return found


def _spreads(node: Any) -> list[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    return names


def _variables_used(nodes: list[Any]) -> set[str]:
    names: set[str] = set()

    class Variables(Visitor):
        def enter_variable(self, variable: VariableNode, *_: Any) -> None:
            names.add(variable.name.value)

    for node in nodes:
        visit(node, Variables())
    return names
