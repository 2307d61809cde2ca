"""The authorization extension: plan once before execution, place denials after.

Not a validation rule on purpose: strawberry caches validation by document
text, while decisions depend on the principal.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from govgraph.auth.operation import null_paths, plan_operation
from govgraph.resolvers.context import RequestContext


class AuthorizationExtension(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        if not isinstance(context, RequestContext) or context.authorizer is None:
            yield
            return
        original = execution_context.graphql_document
        assert original is not None
        graphql_schema = execution_context.schema._schema
        plan = plan_operation(
            graphql_schema, original, context.principal, context.authorizer, context.requirements
        )
        context.transforms = plan.transforms
        context.decisions = plan.decisions
        context.operation_plan = plan
        if plan.changed:
            execution_context.graphql_document = plan.document
        yield
        result = execution_context.result
        data = getattr(result, "data", None)
        if plan.changed and isinstance(data, dict):
            context.path_errors.extend(
                null_paths(
                    graphql_schema,
                    original,
                    execution_context.operation_name,
                    execution_context.variables or {},
                    data,
                    plan.denied,
                )
            )
