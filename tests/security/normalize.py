"""A plain rewriting of an operation, for differential tests: the reference reading, written independently.

Directives are evaluated with the variables (defaults included), named and
inline fragments are spliced into the selections they apply to (per
concrete type under an abstract one), and variables are replaced by their
values. What is left is plain fields and aliases: the simplest document a
server can run. If govgraph answers both the same, its one reading of the
original agrees with this one.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    VariableNode,
    ast_from_value,
    get_named_type,
    is_abstract_type,
    parse,
    print_ast,
)
from graphql.execution.values import get_variable_values


class Unexpressible(Exception):
    """Every field of a selection is skipped: the answer is ``{}``, which no plain document asks for."""


def normalize(schema: GraphQLSchema, text: str, variables: dict[str, Any]) -> str:
    document = parse(text)
    operation = next(item for item in document.definitions if isinstance(item, OperationDefinitionNode))
    fragments = {
        item.name.value: item for item in document.definitions if isinstance(item, FragmentDefinitionNode)
    }
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    assert not isinstance(coerced, list), coerced
    reader = _Reader(schema, fragments, coerced.coerced)
    root = schema.query_type
    assert root is not None
    return "{ " + " ".join(reader.selections(root, operation.selection_set.selections)) + " }"


class _Reader:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], values: dict[str, Any]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.values = values

    def selections(self, parent: Any, selections: Any) -> list[str]:
        out: list[str] = []
        for selection in selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                out.append(self._field(parent, selection))
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                inner = selection.selection_set.selections
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.fragments[selection.name.value]
                condition, inner = fragment.type_condition.name.value, fragment.selection_set.selections
            if isinstance(parent, GraphQLObjectType):
                if self._applies(condition, parent):
                    out.extend(self.selections(parent, inner))
            else:
                for possible in self.schema.get_possible_types(parent):
                    if self._applies(condition, possible):
                        out.append(
                            f"... on {possible.name} {{ {' '.join(self.selections(possible, inner)) or '__typename'} }}"
                        )
        return out

    def _field(self, parent: Any, node: FieldNode) -> str:
        text = (f"{node.alias.value}: " if node.alias else "") + node.name.value
        definition = parent.fields.get(node.name.value) if hasattr(parent, "fields") else None
        if node.arguments:
            assert definition is not None
            text += (
                "("
                + ", ".join(
                    f"{argument.name.value}: {self._value(argument.value, definition.args[argument.name.value].type)}"
                    for argument in node.arguments
                )
                + ")"
            )
        if node.selection_set is None:
            return text
        assert definition is not None
        inner = self.selections(get_named_type(definition.type), node.selection_set.selections)
        if not inner:
            raise Unexpressible(text)
        return f"{text} {{ {' '.join(inner)} }}"

    def _value(self, node: Any, type_: Any) -> str:
        if isinstance(node, VariableNode):
            literal = ast_from_value(self.values.get(node.name.value), type_)
            assert literal is not None
            return print_ast(literal)
        return print_ast(node)

    def _applies(self, condition: str | None, object_type: GraphQLObjectType) -> bool:
        if condition is None or condition == object_type.name:
            return True
        conditional = self.schema.get_type(condition)
        return (
            conditional is not None
            and is_abstract_type(conditional)
            and self.schema.is_sub_type(conditional, object_type)
        )  # type: ignore[arg-type]

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            if directive.name.value not in ("skip", "include"):
                continue
            (argument,) = directive.arguments
            value = argument.value
            condition = (
                self.values.get(value.name.value)
                if isinstance(value, VariableNode)
                else isinstance(value, BooleanValueNode) and value.value
            )
            if directive.name.value == "skip" and condition:
                return False
            if directive.name.value == "include" and not condition:
                return False
        return True
