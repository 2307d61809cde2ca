"""Authorization planned once per operation.

Before execution, ``plan_operation`` walks the document once with
graphql's ``TypeInfo`` (fragments, inline fragments, aliases and nesting
included), decides every field coordinate for this principal and purpose,
and removes denied fields, so they are never resolved and their
departments never queried. After execution, ``null_paths`` walks the result
along the original document and puts ``null`` plus a ``FORBIDDEN`` error at
every path where a denied field was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    REMOVE,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_abstract_type,
    visit,
)

from govgraph.auth.coordinates import Requirement
from govgraph.auth.decisions import Access, Authorizer, Decision
from govgraph.auth.masks import MASKS
from govgraph.auth.principal import Principal
from govgraph.errors import Forbidden, GovgraphError
from govgraph.resolvers.context import PathError, Transform
from govgraph.resolvers.selection import collect_subfields, operation_of, response_key

TYPENAME_ALIAS = "__govgraph_typename"


@dataclass
class OperationPlan:
    document: DocumentNode
    denied: dict[int, Forbidden] = field(default_factory=dict)
    """id(original field node) → why it is denied."""
    transforms: dict[str, Transform] = field(default_factory=dict)
    decisions: dict[str, Access] = field(default_factory=dict)
    """Every coordinate the operation asked for → what was decided, for the audit trail."""
    protected: dict[int, str] = field(default_factory=dict)
    """id(original field node) → coordinate, for allowed conditional and sensitive fields:
    what must be withheld if the audit record cannot be written."""
    typename_injected: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.denied) or self.typename_injected


def plan_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    principal: Principal,
    authorizer: Authorizer,
    requirements: Mapping[tuple[str, str], Requirement],
) -> OperationPlan:
    plan = OperationPlan(document)
    type_info = TypeInfo(schema)
    catalog = authorizer.catalog
    questions: dict[str, int] = {}

    class Planner(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            parent = type_info.get_parent_type()
            if parent is None:
                return None
            requirement = requirements.get((parent.name, node.name.value))
            if requirement is None:
                return None
            decision = authorizer.decide(principal, requirement.coordinate)
            allowed, reason = _allows(requirement, decision)
            if allowed and requirement.need == "verify" and decision.access == "verify":
                asked = questions[requirement.coordinate] = questions.get(requirement.coordinate, 0) + 1
                if asked > authorizer.max_verify_questions:
                    allowed, reason = (
                        False,
                        (
                            f"at most {authorizer.max_verify_questions} yes/no questions about "
                            f"{requirement.coordinate} in one operation"
                        ),
                    )
            if requirement.need != "key" or not allowed:
                _record(plan.decisions, requirement, decision, allowed)
            if not allowed:
                plan.denied[id(node)] = Forbidden(
                    _public_name(requirement, parent.name, node), reason or "denied"
                )
                return REMOVE
            if requirement.need == "operation" or (
                requirement.need != "key"
                and catalog.field(requirement.coordinate).classification in ("conditional", "sensitive")
            ):
                plan.protected[id(node)] = requirement.coordinate
            if decision.access == "mask" and requirement.need == "value":
                mask = catalog.field(requirement.coordinate).mask
                if mask is not None:
                    plan.transforms[requirement.coordinate] = MASKS[mask]
            return None

        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> Any:
            current = type_info.get_type()
            if current is None or not is_abstract_type(get_named_type(current)):
                return None
            plan.typename_injected = True
            typename = FieldNode(name=NameNode(value="__typename"), alias=NameNode(value=TYPENAME_ALIAS))
            return SelectionSetNode(selections=(*node.selections, typename))

    plan.document = visit(document, TypeInfoVisitor(type_info, Planner()))
    return plan


_OUTCOME_RANK = {"deny": 0, "verify": 1, "mask": 2, "read": 3}


def _record(
    decisions: dict[str, Access], requirement: Requirement, decision: Decision, allowed: bool
) -> None:
    """Keep the most revealing outcome per coordinate: what the audit trail must show."""
    if not allowed:
        outcome: Access = "deny"
    elif requirement.need == "verify":
        outcome = "verify"
    elif requirement.need == "band":
        outcome = "mask"
    else:
        outcome = decision.access
    previous = decisions.get(requirement.coordinate)
    if previous is None or _OUTCOME_RANK[outcome] > _OUTCOME_RANK[previous]:
        decisions[requirement.coordinate] = outcome


def _public_name(requirement: Requirement, parent: str, node: FieldNode) -> str:
    if requirement.need in ("band", "verify", "key"):
        return f"{parent}.{node.name.value}"
    return requirement.coordinate


def _allows(requirement: Requirement, decision: Decision) -> tuple[bool, str | None]:
    access = decision.access
    if access == "deny":
        return False, decision.reason
    need = requirement.need
    if need == "value":
        if access == "verify":
            return False, f"verify only: ask verify {{ {requirement.coordinate.partition('.')[2]}(...) }}"
        if access == "mask" and requirement.band_name is not None:
            return False, f"masked: ask {requirement.band_name}"
        return True, None
    if need == "verify" and access == "mask":
        return False, "masked view only: verify not granted"
    return True, None


def null_paths(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    data: dict[str, Any],
    nodes: Mapping[int, GovgraphError],
) -> list[PathError]:
    """Null every path in ``data`` (in place) where one of ``nodes`` was asked for; return an error for each.

    Used for denied fields (FORBIDDEN) and for fields withheld when the audit
    record cannot be written (AUDIT_UNAVAILABLE).
    """
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    operation = operation_of(document, operation_name)
    errors: list[PathError] = []
    if operation is None:
        return errors
    root = schema.get_root_type(operation.operation)
    if root is None:
        return errors
    walker = _ResultWalker(schema, fragments, variables, nodes, errors)
    walker.walk_object(root, [_wrap(operation)], data, ())
    return errors


def _wrap(operation: OperationDefinitionNode) -> FieldNode:
    return FieldNode(name=NameNode(value="__root"), selection_set=operation.selection_set)


class _ResultWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        nodes: Mapping[int, GovgraphError],
        errors: list[PathError],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.nodes = nodes
        self.errors = errors

    def walk_object(
        self,
        parent: GraphQLObjectType,
        nodes: list[FieldNode],
        data: dict[str, Any],
        path: tuple[str | int, ...],
    ) -> None:
        selected = collect_subfields(nodes, parent.name, self.fragments, self.variables)
        order: list[str] = []
        inserted = False
        for field_name, field_nodes in selected.items():
            by_key: dict[str, list[FieldNode]] = {}
            for node in field_nodes:
                by_key.setdefault(response_key(node), []).append(node)
            for key, key_nodes in by_key.items():
                order.append(key)
                denial = next((self.nodes[id(node)] for node in key_nodes if id(node) in self.nodes), None)
                if denial is not None:
                    if key not in data:
                        inserted = True
                    data[key] = None
                    self.errors.append(PathError((*path, key), denial))
                    continue
                definition = parent.fields.get(field_name)
                if definition is None or key not in data or key_nodes[0].selection_set is None:
                    continue
                self.walk_value(definition.type, key_nodes, data[key], (*path, key))
        if inserted:
            remaining = {key: data[key] for key in data if key not in order}
            ordered = {key: data[key] for key in order if key in data}
            data.clear()
            data.update(ordered)
            data.update(remaining)

    def walk_value(self, type_: Any, nodes: list[FieldNode], value: Any, path: tuple[str | int, ...]) -> None:
        if value is None:
            return
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            for index, item in enumerate(value):
                self.walk_value(type_.of_type, nodes, item, (*path, index))
            return
        if not isinstance(value, dict):
            return
        named = get_named_type(type_)
        if is_abstract_type(named):
            type_name = value.pop(TYPENAME_ALIAS, None)
            runtime = self.schema.get_type(type_name) if type_name else None
            if not isinstance(runtime, GraphQLObjectType):
                return
            named = runtime
        if isinstance(named, GraphQLObjectType):
            self.walk_object(named, nodes, value, path)
