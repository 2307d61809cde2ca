"""What happens once per operation, before its first field runs: limits, ``_entities`` representations,
then the authorization plan."""

from __future__ import annotations

from govgraph.auth.operation import plan_operation
from govgraph.errors import GovgraphError
from govgraph.operation.collection import FieldCollection
from govgraph.operation.limits import check
from govgraph.operation.representations import check_representations
from govgraph.resolvers.context import RequestContext


def prepare_operation(collection: FieldCollection, context: RequestContext) -> GovgraphError | None:
    """Measure and plan the operation; the refusal to return instead of executing, if any."""
    if context.limits is not None:
        problem = check(collection, context.limits)
        if problem is not None:
            return problem
    if context.catalog is not None:
        malformed = check_representations(collection, context.catalog)
        if malformed is not None:
            return malformed
    context.collection = collection
    if context.authorizer is not None:
        plan = plan_operation(
            collection,
            context.principal,
            context.authorizer,
            context.requirements,
            sdl_open=context.sdl_open,
        )
        context.plan = plan
        context.transforms = plan.transforms
        context.decisions = plan.decisions
    context.accepted = True
    return None
