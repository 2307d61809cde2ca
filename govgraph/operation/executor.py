"""``GovgraphExecutor``: graphql-core's executor with govgraph's rules applied as it runs.

Before the first field runs, the operation is read once through
``FieldCollection`` with the executor's own coerced variables and fragments
(``prepare.py``): limits are measured and the authorization plan is made.
Then, as the executor reaches each field:

- a denied field is not resolved; it completes as ``null`` with its
  ``FORBIDDEN`` error at its path, through the executor's own error handling;
- the path of every conditional or sensitive value produced is noted on the
  request context, so that withholding (when the audit record cannot be
  committed) nulls exactly what was produced, wherever it came from: an
  alias, a fragment, a directive or ``_entities``.

Sub-selections are collected through the same ``FieldCollection``, so the
executor and every govgraph walk share one answer to what is selected.
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLObjectType
from graphql.execution import Executor
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from govgraph.errors import GovgraphError
from govgraph.operation import variables
from govgraph.operation.collection import FieldCollection
from govgraph.operation.prepare import apply, prepare_operation
from govgraph.operation.prepared import Prepared
from govgraph.plan.compile import compile_operation
from govgraph.plan.run import run
from govgraph.plan.steps import CompiledOperation
from govgraph.resolvers.context import RequestContext

variables.install()


class GovgraphExecutor(Executor):
    def __init__(self, *args: Any, operation_extensions: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operation_extensions = operation_extensions
        self.collection = FieldCollection(
            self.schema,
            self.fragments,
            self.variable_values,
            self.operation,
            hide_suggestions=self.hide_suggestions,
        )
        self.rules: dict[tuple[str, str], Any] = {}
        self.released: list[Path] = []

    # Resolvers receive strawberry's resolve info (the coerced variables as a plain dict).
    build_resolve_info = StrawberryGraphQLCoreExecutionContext.build_resolve_info

    @classmethod
    def build(
        cls,
        schema: Any,
        document: Any,
        root_value: Any = None,
        context_value: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:  # type: ignore[override]
        if isinstance(context_value, RequestContext) and context_value.hide_suggestions:
            kwargs["hide_suggestions"] = True
        return super().build(schema, document, root_value, context_value, *args, **kwargs)

    def execute_operation(self, serially: bool | None = None) -> Any:
        context = self.context_value
        if isinstance(context, RequestContext):
            prepared = self._prepared(context)
            refusal = prepared.refusal
            if refusal is not None:
                self.collected_errors.add(
                    GraphQLError(refusal.message, self.operation, original_error=refusal), None
                )
                return self.build_response(None)
            apply(prepared, self.collection, context)
            if context.plan is not None:
                self.rules = context.plan.rules
            self.released = context.released
            compiled = self._compiled(prepared, context)
            if compiled is not None:
                return self._run_compiled(compiled, context)
        return super().execute_operation(serially)

    def _prepared(self, context: RequestContext) -> Prepared:
        cache = context.prepared
        if cache is None:
            return prepare_operation(self.collection, context)
        return cache.get_or_prepare(
            self.operation,
            self.fragment_definitions,
            (context.principal.access_key, context.sdl_open),
            self.variable_values.coerced,
            lambda: prepare_operation(self.collection, context),
        )

    def _compiled(self, prepared: Prepared, context: RequestContext) -> CompiledOperation | None:
        """The operation's compiled plan, when plans are on and the plan covers every field it selects."""
        if not context.compile or context.entities is None or self.operation.operation.value != "query":
            return None
        if not prepared.compiled_ready:
            prepared.compiled = compile_operation(self.collection, context, context.entities, context.catalog)
            prepared.compiled_ready = True
        return prepared.compiled

    async def _run_compiled(self, compiled: CompiledOperation, context: RequestContext) -> ExecutionResult:
        try:
            data, errors = await run(compiled, context)
        finally:
            # graphql-core's helpers hold this executor's bound methods: a cycle that would keep the
            # request (its rows, its response) alive until the cyclic collector ran. The query is done.
            del self.async_helpers
        return ExecutionResult(data, errors or None)

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        key = (return_type, id(field_details_list))
        cached = self._relevant_sub_fields.get(key)
        if cached is not None:
            return cached[1]
        collected = self.collection.collected_subfields(return_type, field_details_list)
        self._relevant_sub_fields[key] = (field_details_list, collected)
        return collected

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        rules = self.rules
        if rules:
            node = field_details_list[0].node
            rule = rules.get((parent_type.name, node.name.value))
            if rule is not None:
                denial = rule.denial_for(node)
                if denial is not None:
                    return self._deny(parent_type, field_details_list, path, denial)
                if rule.protected:
                    self.released.append(path)
                for index in rule.protected_items:
                    self.released.append(Path(path, index, None))
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _deny(
        self,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        denial: GovgraphError,
    ) -> Any:
        definition = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        if definition is None:
            return Undefined
        self.handle_field_error(denial, definition.type, field_details_list, path)
        return None
