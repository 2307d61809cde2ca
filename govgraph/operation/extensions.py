"""The strawberry hooks before execution: text limits when parsing, validation with a bounded cache.

Everything after validation (limits on the operation itself, the
authorization plan) happens in the executor, on the operation as it will
run (``executor.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from govgraph.operation.limits import Limits, check_text
from govgraph.schema.subscription import NOT_OVER_POST


def text_limits_extension(limits: Limits, max_entries: int = 1000) -> type[SchemaExtension]:
    passed: OrderedDict[str, None] = OrderedDict()
    """Texts already within the limits: a portal sends the same few documents all day."""

    class TextLimits(SchemaExtension):
        """Size and tokens, before the document is parsed: a huge document costs nothing to refuse."""

        def on_parse(self) -> Iterator[None]:
            query = self.execution_context.query or ""
            if query in passed:
                passed.move_to_end(query)
            else:
                problem = check_text(query, limits)
                if problem is not None:
                    raise problem
                passed[query] = None
                while len(passed) > max_entries:
                    passed.popitem(last=False)
            yield

    return TextLimits


def validation_extension(max_entries: int, *, hide_suggestions: bool) -> type[SchemaExtension]:
    """graphql-core's validation, remembered per document text and rules; suggestions hidden on request.

    Validation does not depend on the caller, so its result can be shared;
    decisions, which do, are made later, per operation.
    """
    remembered: OrderedDict[tuple[str, tuple[type, ...]], list[GraphQLError]] = OrderedDict()

    class Validation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            execution_context = self.execution_context
            rules = (*execution_context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
            key = (execution_context.query, rules) if execution_context.query is not None else None
            errors = remembered.get(key) if key is not None else None
            if errors is None:
                assert execution_context.graphql_document is not None
                errors = validate(
                    execution_context.schema._schema,
                    execution_context.graphql_document,
                    rules,
                    hide_suggestions=hide_suggestions,
                )
                if key is not None:
                    remembered[key] = errors
                    while len(remembered) > max_entries:
                        remembered.popitem(last=False)
            elif key is not None:
                remembered.move_to_end(key)
            execution_context.pre_execution_errors = list(errors) or _not_over_http(execution_context)
            yield

    return Validation


def _not_over_http(execution_context: Any) -> list[GraphQLError]:
    """A subscription streams: over GET or POST it is refused, saying where it is served."""
    document = execution_context.graphql_document
    operation = get_operation_ast(document, execution_context.operation_name) if document else None
    if operation is None or operation.operation != OperationType.SUBSCRIPTION:
        return []
    return [GraphQLError(NOT_OVER_POST, extensions={"code": "BAD_REQUEST"})]
