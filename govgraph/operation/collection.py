"""``FieldCollection``: the one answer to "which fields does this operation select?".

graphql-core's executor decides which fields run: variables coerced with
their defaults, ``@include``/``@skip`` evaluated, each fragment collected once
per selection set, fragments on abstract types matched against the runtime
type. govgraph's own walks (limits, authorization, the entity loader's
column plan) must agree with it exactly, or values slip through where two
readings differ. So every walk reads the operation through this class,
which calls graphql-core's own ``collect_fields`` and ``collect_subfields``
with the executor's coerced variables and remembers each answer; the
executor collects through the same memo (``operation/executor.py``).

Answers are keyed by the runtime type and the identities of the field
nodes merged under one response key. A fragment spread at many places
yields the same nodes at each, so a document whose fragments fan out
exponentially still has a number of distinct answers linear in its size:
the memo is what keeps measuring it linear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    is_abstract_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetails,
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values

GroupKey = tuple[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class SelectedField:
    """One response key of one selection set: the field nodes merged under it, as execution merges them."""

    parent_type: GraphQLObjectType
    response_key: str
    definition: GraphQLField | None
    """``None`` for ``__typename`` and for names the parent type lacks (validation refuses those)."""
    details: FieldDetailsList

    @property
    def name(self) -> str:
        return self.details[0].node.name.value

    @property
    def nodes(self) -> list[FieldNode]:
        return [detail.node for detail in self.details]


class FieldCollection:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDetails],
        variable_values: VariableValues,
        operation: OperationDefinitionNode,
        *,
        hide_suggestions: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variable_values = variable_values
        self.operation = operation
        self.hide_suggestions = hide_suggestions
        root_type = schema.get_root_type(operation.operation)
        if root_type is None:
            raise ValueError(f"the schema has no {operation.operation.value} type")
        self.root_type: GraphQLObjectType = root_type
        self._root: CollectedFields | None = None
        self._collected: dict[GroupKey, CollectedFields] = {}

    @property
    def distinct_selections(self) -> int:
        """How many distinct (type, merged nodes) selection sets have been collected so far."""
        return len(self._collected) + (self._root is not None)

    def root(self) -> GroupedFieldSet:
        if self._root is None:
            self._root = collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                self.root_type,
                self.operation,
                self.hide_suggestions,
            )
        return self._root.grouped_field_set

    def collected_subfields(
        self, object_type: GraphQLObjectType, details: FieldDetailsList
    ) -> CollectedFields:
        key = (object_type.name, tuple(id(detail.node) for detail in details))
        collected = self._collected.get(key)
        if collected is None:
            collected = collect_subfields(
                self.schema,
                self.fragments,
                self.variable_values,
                self.operation,
                object_type,
                details,
                self.hide_suggestions,
            )
            self._collected[key] = collected
        return collected

    def subfields(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> GroupedFieldSet:
        return self.collected_subfields(object_type, details).grouped_field_set

    def subfields_of_nodes(
        self, object_type: GraphQLObjectType, nodes: Sequence[FieldNode]
    ) -> GroupedFieldSet:
        """For a resolver, which sees field nodes (``info.field_nodes``) rather than field details."""
        return self.subfields(object_type, [FieldDetails(node, None) for node in nodes])

    def selected(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Iterator[SelectedField]:
        for response_key, details in grouped.items():
            name = details[0].node.name.value
            definition = self.schema.get_field(parent_type, name) if name != "__typename" else None
            yield SelectedField(parent_type, response_key, definition, details)

    def children(self, field: SelectedField) -> Iterator[tuple[GraphQLObjectType, GroupedFieldSet]]:
        """The selection under a field, once for each object type its value can have."""
        if field.definition is None:
            return
        for object_type in self.runtime_types(field.definition.type):
            yield object_type, self.subfields(object_type, field.details)

    def runtime_types(self, type_: GraphQLOutputType) -> list[GraphQLObjectType]:
        named = get_named_type(type_)
        if is_object_type(named):
            return [named]  # type: ignore[list-item]
        if is_abstract_type(named):
            return list(self.schema.get_possible_types(named))  # type: ignore[arg-type]
        return []

    def arguments(self, field: SelectedField) -> dict[str, Any]:
        """The field's coerced arguments, exactly as its resolver will receive them."""
        if field.definition is None:
            return {}
        first = field.details[0]
        return get_argument_values(
            field.definition,
            first.node,
            self.variable_values,
            first.fragment_variable_values,
            self.hide_suggestions,
        )

    def walk(self, visit: Callable[[SelectedField], bool]) -> None:
        """Call ``visit`` on every distinct selected field once, whatever the number of places it is
        reached from, in document order; below a field only when ``visit`` returned true for it."""
        visited: set[tuple[str, int]] = set()
        pending: list[tuple[GraphQLObjectType, GroupedFieldSet]] = [(self.root_type, self.root())]
        while pending:
            parent_type, grouped = pending.pop()
            marker = (parent_type.name, id(grouped))
            if marker in visited:
                continue
            visited.add(marker)
            below: list[tuple[GraphQLObjectType, GroupedFieldSet]] = []
            for field in self.selected(parent_type, grouped):
                if visit(field):
                    below.extend(self.children(field))
            pending.extend(reversed(below))


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
