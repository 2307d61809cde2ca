"""Collects what the audit record needs from the operation itself."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from govgraph.audit.records import document_hash
from govgraph.resolvers.context import RequestContext


class AuditExtension(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        if isinstance(context, RequestContext):
            context.document_hash = document_hash(execution_context.query, execution_context.variables)
            context.operation_name = execution_context.operation_name or _single_operation_name(
                execution_context
            )
            context.document = execution_context.graphql_document
            context.variables = dict(execution_context.variables or {})
        yield


def _single_operation_name(execution_context: object) -> str | None:
    document = getattr(execution_context, "graphql_document", None)
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) == 1 and operations[0].name is not None:
        return operations[0].name.value
    return None
