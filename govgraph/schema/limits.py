"""Query limits, checked once per operation before anything is resolved.

Depth, aliases, tokens, document size, keys per batch lookup, and an
estimated cost (fields × the list sizes they multiply by). Over a limit,
the operation is not executed at all and no department is queried; the
error says which limit, the maximum and what was measured. Introspection
(``__schema``, ``__type``) is not counted, as graphql-armor does by default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    VariableNode,
    get_named_type,
)
from graphql.language.lexer import Lexer
from strawberry.extensions import SchemaExtension

from govgraph.errors import QueryTooComplex
from govgraph.resolvers.selection import operation_of


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 8
    max_aliases: int = 15
    max_tokens: int = 1000
    max_document_bytes: int = 20_000
    max_keys: int = 1000
    max_cost: int = 50_000
    list_estimate: int = 3
    """How many items a list field is assumed to hold when nothing in the query says."""


@dataclass
class Measured:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    keys: int = 0


KEYED_ARGUMENTS = frozenset({"idNumbers", "creditCodes", "certificateNos", "householdIds"})
PAGE_ARGUMENTS = frozenset({"first"})


def count_tokens(text: str, stop_after: int) -> int:
    lexer = Lexer(Source(text))
    count = 0
    while count <= stop_after:
        token = lexer.advance()
        if token.kind == TokenKind.EOF:
            break
        count += 1
    return count


def measure(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: Limits,
) -> Measured:
    measured = Measured()
    root = schema.get_root_type(operation.operation)
    if root is None:
        return measured
    walker = _Walker(schema, fragments, variables, limits, measured)
    measured.cost = walker.cost(operation.selection_set, root, depth=1, multiplier=1, seen=frozenset())
    return measured


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limits: Limits,
        measured: Measured,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.measured = measured

    def cost(
        self, selection_set: SelectionSetNode, parent: Any, depth: int, multiplier: int, seen: frozenset[str]
    ) -> int:
        total = 0
        for node, owner in self._fields(selection_set, parent, seen):
            name = node.name.value
            if name.startswith("__"):
                continue
            if node.alias is not None:
                self.measured.aliases += 1
            self.measured.depth = max(self.measured.depth, depth)
            total += multiplier
            definition = owner.fields.get(name) if isinstance(owner, GraphQLObjectType) else None
            if definition is None or node.selection_set is None:
                continue
            factor = self._list_factor(node, definition.type)
            total += self.cost(
                node.selection_set, get_named_type(definition.type), depth + 1, multiplier * factor, seen
            )
        return total

    def _fields(
        self, selection_set: SelectionSetNode, parent: Any, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(
                    selection.selection_set, self._narrow(parent, selection.type_condition), seen
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    yield from self._fields(
                        fragment.selection_set, self._narrow(parent, fragment.type_condition), seen | {name}
                    )

    def _narrow(self, parent: Any, condition: Any) -> Any:
        if condition is None:
            return parent
        return self.schema.get_type(condition.name.value) or parent

    def _list_factor(self, node: FieldNode, field_type: Any) -> int:
        while isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLList):
            return 1
        for argument in node.arguments or ():
            name = argument.name.value
            if name in KEYED_ARGUMENTS:
                keys = self._length(argument.value)
                self.measured.keys = max(self.measured.keys, keys)
                return max(keys, 1)
            if name in PAGE_ARGUMENTS:
                value = self._value(argument.value)
                if isinstance(value, int):
                    return max(value, 1)
        return self.limits.list_estimate

    def _length(self, value: Any) -> int:
        resolved = self._value(value)
        return len(resolved) if isinstance(resolved, (list, tuple)) else 1

    def _value(self, value: Any) -> Any:
        if isinstance(value, VariableNode):
            return self.variables.get(value.name.value)
        if isinstance(value, ListValueNode):
            return list(value.values)
        if isinstance(value, IntValueNode):
            return int(value.value)
        return None


def check_text(query: str, limits: Limits) -> QueryTooComplex | None:
    """Size and tokens: checked before the document is even parsed."""
    size = len(query.encode())
    if size > limits.max_document_bytes:
        return QueryTooComplex("document size in bytes", limits.max_document_bytes, size)
    tokens = count_tokens(query, limits.max_tokens)
    if tokens > limits.max_tokens:
        return QueryTooComplex("token count", limits.max_tokens, tokens)
    return None


def check(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: Limits,
) -> QueryTooComplex | None:
    """Depth, aliases, keys and cost: checked on the parsed, validated operation, with its variables."""
    measured = measure(schema, operation, fragments, variables, limits)
    for name, maximum, value in (
        ("depth", limits.max_depth, measured.depth),
        ("alias count", limits.max_aliases, measured.aliases),
        ("number of keys", limits.max_keys, measured.keys),
        ("estimated cost", limits.max_cost, measured.cost),
    ):
        if value > maximum:
            return QueryTooComplex(name, maximum, value)
    return None


def limits_extension(limits: Limits) -> type[SchemaExtension]:
    class QueryLimits(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            problem = check_text(self.execution_context.query or "", limits)
            if problem is not None:
                raise problem
            yield

        def on_execute(self) -> Iterator[None]:
            execution_context = self.execution_context
            document = execution_context.graphql_document
            operation = operation_of(document, execution_context.operation_name) if document else None
            if operation is not None:
                fragments = {
                    definition.name.value: definition
                    for definition in document.definitions  # type: ignore[union-attr]
                    if isinstance(definition, FragmentDefinitionNode)
                }
                problem = check(
                    execution_context.schema._schema,
                    operation,
                    fragments,
                    execution_context.variables or {},
                    limits,
                )
                if problem is not None:
                    execution_context.result = ExecutionResult(
                        data=None, errors=[GraphQLError(problem.message, original_error=problem)]
                    )
            yield

    return QueryLimits
