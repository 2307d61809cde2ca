"""Build one request's audit record from what resolution collected.

Who (principal), for what (purpose), how (operation name, document hash,
client address), which entities from which providers, and each field
coordinate with its decision (``refused`` for yes/no questions over the
principal's window budget). Never a value.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from govgraph.audit.records import AuditRecord, EntityAccess, FieldDecision
from govgraph.catalog.model import Catalog
from govgraph.resolvers.context import RequestContext

GOVGRAPH = "govgraph"
"""The provider named for govgraph's own records (the audit log itself)."""


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_record(
    context: RequestContext, catalog: Catalog, client_address: str | None, *, delivery: str | None = None
) -> AuditRecord | None:
    """The record for this request, or ``None`` when it touched public data only.

    ``delivery``: the subscription a change is delivered to; its record is built whatever it touched,
    public fields included, since every delivery is accounted for."""
    fields = []
    for coordinate, decision in sorted(context.decisions.items()):
        entity_name, _, field_name = coordinate.partition(".")
        entity = catalog.entities.get(entity_name)
        catalog_field = entity.fields.get(field_name) if entity else None
        if catalog_field is None:
            fields.append(FieldDecision(coordinate, GOVGRAPH, "conditional", decision))
        elif catalog_field.classification != "public" or delivery is not None:
            fields.append(
                FieldDecision(coordinate, catalog_field.department, catalog_field.classification, decision)
            )
    for coordinate in sorted({refusal.coordinate for refusal in context.refusals}):
        catalog_field = catalog.field(coordinate)
        fields.append(
            FieldDecision(coordinate, catalog_field.department, catalog_field.classification, "refused")
        )
    if not fields and delivery is None:
        return None
    served_from: Mapping[str, str] = context.served_from
    ordered = _SortedOnce()
    entities = tuple(
        EntityAccess(entity_type, department, ordered(keys), served_from.get(department, "live"))
        for (entity_type, department), keys in sorted(context.touched.items())
        if keys
    )
    principal = context.principal
    return AuditRecord(
        request_id=context.request_id,
        occurred_at=utc_now(),
        subject=principal.subject,
        department=principal.department,
        roles=principal.roles,
        purpose=principal.purpose,
        operation_name=context.operation_name,
        document_hash=context.document_hash or "",
        client_address=client_address,
        entities=entities,
        fields=tuple(fields),
        delivery=delivery,
    )


class _SortedOnce:
    """Keys in order, sorted once per request where it can be: the departments of one list read the same
    thousand keys, or some of them (a person with no tax record), and comparing two sets, or picking a
    subset's keys out of a sorted superset, costs far less than sorting again."""

    def __init__(self) -> None:
        self._seen: list[tuple[set[Any], tuple[Any, ...]]] = []

    def __call__(self, keys: set[Any]) -> tuple[Any, ...]:
        for seen, ordered in self._seen:
            if seen == keys:
                return ordered
        for seen, ordered in self._seen:
            if keys <= seen:
                picked = tuple(key for key in ordered if key in keys)
                self._seen.append((keys, picked))
                return picked
        ordered = tuple(sorted(keys))
        self._seen.append((keys, ordered))
        return ordered
