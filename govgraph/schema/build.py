"""Build the federated strawberry schema from a catalog, once, at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
import strawberry.tools
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from govgraph.auth.policy import Policy
from govgraph.catalog.model import Catalog
from govgraph.errors import BadUserInput, Forbidden, GovgraphError
from govgraph.operation.executor import GovgraphExecutor
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.entities import EntityLoader
from govgraph.schema.discovery import discovery_fields
from govgraph.schema.oversight import oversight_fields
from govgraph.schema.root import MAX_KEYS, root_fields
from govgraph.schema.scalars import SCALAR_MAP
from govgraph.schema.subscription import subscription_type
from govgraph.schema.types import build_types

FEDERATION_VERSION = "2.5"
"""The oldest Federation 2 version with everything the SDL uses (@authenticated and @requiresScopes came in
2.5), so both Apollo's and The Guild's composers and older routers take it."""

logger = logging.getLogger("govgraph.schema")


class GovgraphSchema(strawberry.federation.Schema):
    """Logs only unexpected errors, with the request id; expected ones are the client's business.

    ``_entities`` is resolved here rather than per representation: the keys of each type are looked up
    together, as one batch, and each item's errors are placed at its own index.
    """

    catalog: Catalog
    entity_loader: EntityLoader

    async def entities_resolver(  # type: ignore[override]
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        context: RequestContext = info.context
        results: list[Any] = [None] * len(representations)
        by_type: dict[str, list[tuple[int, str]]] = {}
        for index, representation in enumerate(representations):
            entity = self.catalog.entities[representation["__typename"]]
            if context.authorizer is not None:
                decision = context.authorizer.decide(context.principal, f"{entity.name}.{entity.key_field}")
                if not decision.allowed:
                    results[index] = Forbidden(f"_entities({entity.name})", decision.reason or "denied")
                    continue
            by_type.setdefault(entity.name, []).append((index, representation[entity.key_field]))
        base = tuple(info._raw_info.path.as_list())
        for entity_name, items in by_type.items():
            instances = await self.entity_loader.load(
                info._raw_info,
                entity_name,
                [key for _, key in items],
                in_list=True,
                item_paths=[((*base, index),) for index, _ in items],
            )
            for (index, _), instance in zip(items, instances, strict=True):
                results[index] = instance
        return results

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, (GovgraphError, GraphQLError)):
                logger.error(
                    "unexpected error in request %s at %s", request_id, error.path, exc_info=original
                )


def build_schema(
    catalog: Catalog,
    policy: Policy,
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    *,
    hide_suggestions: bool = False,
    max_keys: int = MAX_KEYS,
    access_directives: bool = True,
) -> tuple[GovgraphSchema, EntityLoader]:
    """``hide_suggestions``: no "Did you mean ..." in field errors (production; other messages are
    handled by validation and the executor). ``access_directives``: classifications in the SDL."""
    entities = EntityLoader(catalog, {})
    classes = build_types(catalog, entities, policy if access_directives else None)
    for entity in catalog.entities.values():
        _add_resolve_reference(classes[entity.name], entities, entity.name, entity.key_field)
    query = strawberry.tools.create_type(
        "Query",
        [
            *root_fields(catalog, entities, classes, max_keys),
            *discovery_fields(catalog),
            *oversight_fields(policy),
        ],
        description="govgraph: one schema over the city's departments.",
    )
    schema = GovgraphSchema(
        query=query,
        subscription=subscription_type(catalog, classes),
        types=list(classes.values()),
        extensions=list(extensions),
        federation_version=FEDERATION_VERSION,
        execution_context_class=GovgraphExecutor,
        config=StrawberryConfig(
            auto_camel_case=False,
            disable_field_suggestions=hide_suggestions,
            scalar_map=SCALAR_MAP,
        ),
    )
    schema.catalog = catalog
    schema.entity_loader = entities
    return schema, entities


def _add_resolve_reference(cls: type, entities: EntityLoader, entity_name: str, key_field: str) -> None:
    """``_entities`` looks entities up by key, so it obeys the same rule as the root lookups."""
    coordinate = f"{entity_name}.{key_field}"

    async def resolve_reference(info: strawberry.Info, **representation: Any) -> Any:
        context: RequestContext = info.context
        if context.authorizer is not None:
            decision = context.authorizer.decide(context.principal, coordinate)
            if not decision.allowed:
                raise Forbidden(f"_entities({entity_name})", decision.reason or "denied")
        key = representation.get(key_field)
        if not isinstance(key, str):
            raise BadUserInput(f"a {entity_name} representation needs {key_field} as a string")
        return (await entities.load(info._raw_info, entity_name, [key], in_list=False))[0]

    cls.resolve_reference = staticmethod(resolve_reference)  # type: ignore[attr-defined]
