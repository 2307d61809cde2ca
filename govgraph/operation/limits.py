"""Query limits, checked once per operation before anything is resolved.

- Size and tokens: on the text, before it is even parsed (``check_text``).
- Depth, aliases, keys per lookup and an estimated cost: on the operation as
  execution will run it (``measure``), read through ``FieldCollection`` with
  the coerced variables, fragments expanded as execution expands them.

The cost counts the real expanded work: every field once per object it is
asked of, lists by their key count, page size or ``list_estimate``, a
fragment once per place it is spread. Each distinct selection set is
measured once and its figures reused wherever it appears, so measuring
takes time linear in the document even when the work it describes is
exponential. Over a limit, the operation is not executed and no department
is queried; the error names the limit, the maximum and what was measured.

Every field counts towards the alias limit, ``__typename`` and
introspection included. Introspection does not count towards depth (its
type references nest deeply by design); instead its lists may nest at most
``MAX_INTROSPECTION_LISTS`` deep (``__schema { types { fields { args } } }``),
which is what GraphiQL asks and what stops circular introspection.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    IntValueNode,
    ListValueNode,
    Source,
    TokenKind,
    VariableNode,
    get_named_type,
    is_introspection_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.language.lexer import Lexer

from govgraph.errors import QueryTooComplex
from govgraph.operation.collection import FieldCollection, SelectedField

MAX_INTROSPECTION_LISTS = 3
SATURATED = 10**15
"""Costs are capped here: beyond any limit, and cheap to compute with."""

KEYED_ARGUMENTS = frozenset({"idNumbers", "creditCodes", "certificateNos", "householdIds", "representations"})
PAGE_ARGUMENTS = frozenset({"first"})


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


@dataclass(frozen=True, slots=True)
class Measured:
    """Figures for one object's selection: its cost, how deep it nests, aliases, keys and introspection lists."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    keys: int = 0
    introspection_lists: int = 0


def count_tokens(text: str, stop_after: int) -> int:
    lexer = Lexer(Source(text))
    count = 0
    while count <= stop_after:
        token = lexer.advance()
        if token.kind == TokenKind.EOF:
            break
        count += 1
    return count


def check_text(query: str, limits: Limits) -> QueryTooComplex | None:
    """Size and tokens: checked before the document is even parsed."""
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > limits.max_document_bytes:
        return QueryTooComplex("document size in bytes", limits.max_document_bytes, size)
    tokens = count_tokens(query, limits.max_tokens)
    if tokens > limits.max_tokens:
        return QueryTooComplex("token count", limits.max_tokens, tokens)
    return None


def check(collection: FieldCollection, limits: Limits) -> QueryTooComplex | None:
    """Depth, aliases, keys, introspection nesting and cost of the operation as it will execute."""
    try:
        measured = measure(collection, limits)
    except RecursionError:
        # The parser and validation bound nesting well below this; should a document still nest past
        # what the interpreter can follow, it is far over any depth limit.
        return QueryTooComplex("depth", limits.max_depth, sys.getrecursionlimit())
    for name, maximum, value in (
        ("depth", limits.max_depth, measured.depth),
        ("alias count", limits.max_aliases, measured.aliases),
        ("number of keys", limits.max_keys, measured.keys),
        ("introspection list nesting", MAX_INTROSPECTION_LISTS, measured.introspection_lists),
        ("estimated cost", limits.max_cost, measured.cost),
    ):
        if value > maximum:
            return QueryTooComplex(name, maximum, value)
    return None


def measure(collection: FieldCollection, limits: Limits) -> Measured:
    return _Measurer(collection, limits).selection(collection.root_type, collection.root(), False)


class _Measurer:
    def __init__(self, collection: FieldCollection, limits: Limits) -> None:
        self.collection = collection
        self.limits = limits
        self._memo: dict[tuple[str, int, bool], Measured] = {}

    def selection(self, parent: GraphQLObjectType, grouped: GroupedFieldSet, introspecting: bool) -> Measured:
        memo_key = (parent.name, id(grouped), introspecting)
        known = self._memo.get(memo_key)
        if known is not None:
            return known
        # A selection that reaches itself cannot happen in a valid document (fragment cycles are refused),
        # but a placeholder keeps any such walk finite.
        self._memo[memo_key] = Measured()
        cost = depth = aliases = keys = lists = 0
        for field in self.collection.selected(parent, grouped):
            aliases += sum(1 for detail in field.details if detail.node.alias is not None)
            cost += 1
            inside = introspecting or _is_introspection(field)
            if not inside:
                depth = max(depth, 1)
            if field.definition is None:
                continue
            factor, field_keys = self._list_factor(field)
            keys = max(keys, field_keys)
            is_list = factor is not None
            below = Measured()
            for object_type, children in self.collection.children(field):
                child = self.selection(object_type, children, inside)
                below = Measured(
                    max(below.cost, child.cost),
                    max(below.depth, child.depth),
                    below.aliases + child.aliases,
                    max(below.keys, child.keys),
                    max(below.introspection_lists, child.introspection_lists),
                )
            cost = min(SATURATED, cost + (factor or 1) * below.cost)
            if not inside:
                depth = max(depth, 1 + below.depth)
            aliases = min(SATURATED, aliases + below.aliases)
            keys = max(keys, below.keys)
            lists = max(lists, below.introspection_lists + (1 if inside and is_list else 0))
        measured = Measured(cost, depth, aliases, keys, lists)
        self._memo[memo_key] = measured
        return measured

    def _list_factor(self, field: SelectedField) -> tuple[int | None, int]:
        """(items per instance, keys in a lookup); items is ``None`` when the field is not a list."""
        assert field.definition is not None
        field_type = field.definition.type
        while isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLList):
            return None, 0
        if not field.definition.args:
            return self.limits.list_estimate, 0
        try:
            arguments = self.collection.arguments(field)
        except GraphQLError:
            # A bad key fails this field when it runs, before any department is asked; its count still counts.
            arguments = _raw_arguments(self.collection, field)
        for name, value in arguments.items():
            if name in KEYED_ARGUMENTS and isinstance(value, (list, tuple)):
                return max(len(value), 1), len(value)
        for name, value in arguments.items():
            if name in PAGE_ARGUMENTS and isinstance(value, int):
                return max(value, 1), 0
        return self.limits.list_estimate, 0


def _raw_arguments(collection: FieldCollection, field: SelectedField) -> dict[str, Any]:
    """The arguments' values without coercion: list literals and variables as given."""
    values: dict[str, Any] = {}
    for argument in field.details[0].node.arguments or ():
        node = argument.value
        if isinstance(node, ListValueNode):
            values[argument.name.value] = list(node.values)
        elif isinstance(node, VariableNode):
            values[argument.name.value] = collection.variable_values.coerced.get(node.name.value)
        elif isinstance(node, IntValueNode):
            values[argument.name.value] = int(node.value)
    return values


def _is_introspection(field: SelectedField) -> bool:
    if field.name in ("__schema", "__type"):
        return True
    return field.definition is not None and is_introspection_type(get_named_type(field.definition.type))
