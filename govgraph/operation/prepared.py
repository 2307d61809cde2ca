"""``PreparedOperations``: what is decided once per operation and decision set, kept for the next request.

Measuring an operation's limits, checking its representations, planning its
authorization and compiling its plan depend on the document, the operation,
the principal's decision set (authenticated, department, roles, purpose) and
on some of the variables: those read by ``@include``/``@skip``, by yes/no
conditions or by ``_entities``, fully, and the lookup keys only by how many
there are (they multiply the cost). So the key is exactly that, and a
portal asking the same question about a different person reuses all of it.
Each request still reads its own keys and conditions through its own field
collection.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import DirectiveNode, FragmentDefinitionNode, OperationDefinitionNode, VariableNode, visit
from graphql.language import ArgumentNode, FieldNode, Visitor

from govgraph.errors import GovgraphError

KEY_ARGUMENTS = frozenset(
    {
        "idNumber",
        "idNumbers",
        "creditCode",
        "creditCodes",
        "certificateNo",
        "certificateNos",
        "householdId",
        "householdIds",
    }
)
"""Arguments of the root lookups: their values are keys, which change nothing but the count."""


@dataclass
class Prepared:
    refusal: GovgraphError | None = None
    plan: Any = None
    """The authorization plan (``auth.operation.OperationPlan``), when authorization is on."""
    compiled: Any = None
    compiled_ready: bool = False


@dataclass
class _Entry:
    operation: OperationDefinitionNode
    """Held so that the node identities the entry relies on outlive it."""
    prepared: Prepared = field(default_factory=Prepared)


class PreparedOperations:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self.prepared = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._key_variables: dict[int, tuple[OperationDefinitionNode, frozenset[str]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_prepare(
        self,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        principal_key: Hashable,
        variables: dict[str, Any],
        prepare: Callable[[], Prepared],
    ) -> Prepared:
        key = (id(operation), principal_key, self._shape(operation, fragments, variables))
        entry = self._entries.get(key)
        if entry is not None and entry.operation is operation:
            self._entries.move_to_end(key)
            return entry.prepared
        self.prepared += 1
        prepared = prepare()
        self._entries[key] = _Entry(operation, prepared)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return prepared

    def _shape(
        self,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> Hashable:
        keys_only = self._keys_only(operation, fragments)
        shape = []
        for name in sorted(variables):
            value = variables[name]
            if name in keys_only:
                shape.append((name, len(value) if isinstance(value, list) else -1))
            else:
                shape.append((name, _frozen(value)))
        return tuple(shape)

    def _keys_only(
        self, operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
    ) -> frozenset[str]:
        known = self._key_variables.get(id(operation))
        if known is not None and known[0] is operation:
            return known[1]
        keys_only = _variables_used_only_as_keys(operation, fragments.values())
        self._key_variables[id(operation)] = (operation, keys_only)
        if len(self._key_variables) > self.max_entries:
            self._key_variables.pop(next(iter(self._key_variables)))
        return keys_only


def _variables_used_only_as_keys(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> frozenset[str]:
    """Variables that appear nowhere, in the operation or any fragment, but as a root lookup's key argument."""
    as_key: set[str] = set()
    elsewhere: set[str] = set()

    class Uses(Visitor):
        def enter_argument(
            self, node: ArgumentNode, key: Any, parent: Any, path: Any, ancestors: Any
        ) -> None:
            fields = [ancestor for ancestor in ancestors if isinstance(ancestor, FieldNode)]
            is_root_key = (
                len(fields) == 1 and node.name.value in KEY_ARGUMENTS and isinstance(node.value, VariableNode)
            )
            (as_key if is_root_key else elsewhere).update(_variable_names(node.value))

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            elsewhere.update(_variable_names(node))

    for definition in (operation, *fragments):
        visit(definition, Uses())
    return frozenset(as_key - elsewhere)


def _variable_names(node: Any) -> set[str]:
    names: set[str] = set()

    class Variables(Visitor):
        def enter_variable(self, variable: VariableNode, *_: Any) -> None:
            names.add(variable.name.value)

    visit(node, Variables())
    return names


def _frozen(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, bool):
        return ("bool", value)  # True is not the integer 1 here
    return value if isinstance(value, Hashable) else repr(value)
