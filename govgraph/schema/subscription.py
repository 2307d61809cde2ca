"""The subscription root: ``changes``, one event per change to a subscribable field.

The schema declares it so that validation, GraphiQL and introspection know
it; ``govgraph.events`` serves it over WebSocket (``graphql-transport-ws``)
and Server-Sent Events, resolving each event's entity through the query path.

No ``from __future__ import annotations`` here: strawberry must see the
generated enums and types as real classes.
"""

import enum
from collections.abc import AsyncGenerator
from typing import Any, Optional

import strawberry

from govgraph.catalog.model import Catalog
from govgraph.errors import BadUserInput
from govgraph.schema.root import singular

NOT_OVER_POST = (
    "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, or as Server-Sent Events: "
    "POST /graphql/stream with Accept: text/event-stream"
)


def subscription_type(catalog: Catalog, classes: dict[str, type]) -> Optional[type]:
    """``Subscription`` with ``changes``, or ``None`` when the catalog marks no field subscribable."""
    subscribable = catalog.subscribable()
    if not subscribable:
        return None
    entities = sorted({catalog_field.entity for catalog_field in subscribable})
    change_entity = strawberry.enum(
        enum.Enum("ChangeEntity", {name: name for name in entities}),  # type: ignore[misc]
        description="An entity whose subscribable fields can be watched.",
    )
    subscribable_field = strawberry.enum(
        enum.Enum(  # type: ignore[misc]
            "SubscribableField", {name: name for name in sorted({f.name for f in subscribable})}
        ),
        description="A field whose changes can be subscribed to: "
        + ", ".join(f"{f.coordinate}" for f in sorted(subscribable, key=lambda f: f.coordinate))
        + ".",
    )
    event = _event_type(catalog, classes, entities, change_entity, subscribable_field)

    async def changes(
        entity: change_entity,  # type: ignore[valid-type]
        fields: Optional[list[subscribable_field]] = None,  # type: ignore[valid-type]
        purpose: Optional[str] = None,
    ) -> AsyncGenerator[event, None]:  # type: ignore[valid-type]
        raise BadUserInput(NOT_OVER_POST)
        yield  # pragma: no cover - makes this an async generator, as strawberry requires

    return strawberry.tools.create_type(
        "Subscription",
        [
            strawberry.field(
                resolver=changes,
                name="changes",
                description=(
                    "One event per change to the watched fields of one entity type, for a stated purpose. "
                    "`fields` defaults to every subscribable field of the entity the caller may read, mask or "
                    "verify for that purpose; naming one it may not see is FORBIDDEN. Each event's entity "
                    "is resolved when it is delivered, as a query: authorized, masked and audited."
                ),
            )
        ],
        description="Changes in shared records, for departments that must act on them.",
    )


def _event_type(
    catalog: Catalog, classes: dict[str, type], entities: list[str], change_entity: Any, field_enum: Any
) -> type:
    annotations: dict[str, Any] = {
        "key": str,
        "entity": change_entity,
        "department": str,
        "changed_fields": list[field_enum],
        "at": str,
    }
    namespace: dict[str, Any] = {
        "key": strawberry.field(
            description="The changed record's key (masked when the caller's grant masks it)."
        ),
        "entity": strawberry.field(description="The entity type that changed."),
        "department": strawberry.field(description="The department whose record changed."),
        "changed_fields": strawberry.field(
            name="changedFields", description="The watched fields that changed; never their values."
        ),
        "at": strawberry.field(description="When the department's record changed, ISO 8601 in UTC."),
    }
    for name in entities:
        annotations[singular(catalog.entities[name])] = Optional[classes[name]]
        namespace[singular(catalog.entities[name])] = strawberry.field(
            default=None,
            description=f"The {name} as it is now, on events about {name} records; resolved as a query would be.",
        )
    namespace["__annotations__"] = annotations
    return strawberry.type(type("ChangeEvent", (), namespace), description="One change to a watched record.")
