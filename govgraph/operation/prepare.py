"""What happens once per operation, before its first field runs: limits, ``_entities`` representations,
then the authorization plan; kept for the next request with the same key (``prepared.py``)."""

from __future__ import annotations

from govgraph.auth.operation import plan_operation
from govgraph.operation.collection import FieldCollection
from govgraph.operation.limits import check
from govgraph.operation.prepared import Prepared
from govgraph.operation.representations import check_representations
from govgraph.resolvers.context import RequestContext


def prepare_operation(collection: FieldCollection, context: RequestContext) -> Prepared:
    """Measure and plan the operation: the refusal to return instead of executing, or its plan."""
    if context.limits is not None:
        problem = check(collection, context.limits)
        if problem is not None:
            return Prepared(refusal=problem)
    if context.catalog is not None:
        malformed = check_representations(collection, context.catalog)
        if malformed is not None:
            return Prepared(refusal=malformed)
    if context.authorizer is None:
        return Prepared()
    plan = plan_operation(
        collection, context.principal, context.authorizer, context.requirements, sdl_open=context.sdl_open
    )
    return Prepared(plan=plan)


def apply(prepared: Prepared, collection: FieldCollection, context: RequestContext) -> None:
    """Put a prepared operation's decisions on this request's context."""
    context.collection = collection
    if prepared.plan is not None:
        context.plan = prepared.plan
        context.transforms = prepared.plan.transforms
        context.decisions = prepared.plan.decisions
    context.accepted = True
