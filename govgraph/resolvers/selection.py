"""Which fields a selection asks for, after fragments and ``@skip``/``@include``.

A small collector over graphql-core's AST, so resolvers can plan one fetch
per department for a whole selection set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

Selected = dict[str, list[FieldNode]]
"""Field name → the nodes asking for it (one per response key or repeat)."""


def collect_subfields(
    field_nodes: Iterable[FieldNode],
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> Selected:
    selected: Selected = {}
    for node in field_nodes:
        if node.selection_set is not None:
            _collect(node.selection_set, type_name, fragments, variables, selected, set())
    return selected


def _collect(
    selection_set: SelectionSetNode,
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    selected: Selected,
    visited: set[str],
) -> None:
    for selection in selection_set.selections:
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            selected.setdefault(selection.name.value, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value == type_name:
                _collect(selection.selection_set, type_name, fragments, variables, selected, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if name in visited or fragment is None or fragment.type_condition.name.value != type_name:
                continue
            visited.add(name)
            _collect(fragment.selection_set, type_name, fragments, variables, selected, visited)


def _included(selection: Any, variables: Mapping[str, Any]) -> bool:
    for directive in selection.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        condition = next(
            (argument.value for argument in directive.arguments or () if argument.name.value == "if"), None
        )
        if isinstance(condition, BooleanValueNode):
            value = condition.value
        elif isinstance(condition, VariableNode):
            value = bool(variables.get(condition.name.value))
        else:
            continue
        if (name == "skip" and value) or (name == "include" and not value):
            return False
    return True


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the named one, or the only one."""
    operations = [
        definition for definition in document.definitions if isinstance(definition, OperationDefinitionNode)
    ]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next(
        (operation for operation in operations if operation.name and operation.name.value == name), None
    )


def response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value
