"""Collects what the audit record needs from the operation itself."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from govgraph.audit.records import document_hash
from govgraph.operation.collection import operation_of
from govgraph.resolvers.context import RequestContext


class AuditExtension(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        if isinstance(context, RequestContext):
            context.document_hash = document_hash(execution_context.query, execution_context.variables)
            document = execution_context.graphql_document
            operation = operation_of(document, execution_context.operation_name) if document else None
            context.operation_name = operation.name.value if operation and operation.name else None
            context.operation_type = operation.operation.value if operation else None
        yield
