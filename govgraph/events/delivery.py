"""Resolve one change for one subscriber: its event, as the subscriber may see it now.

The event's entity is read by the subscription's query, sent straight into
govgraph's own GraphQL endpoint as the subscriber (``run_query``): the same
prepared operation, authorization, masks, verify, loaders and audit as a
query over HTTP, with the cache bypassed. The endpoint commits the
delivery's audit record before the query answers; without it, nothing is
delivered (``DeliveryDeferred``) and the caller tries again later.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.types import ASGIApp, Message

from govgraph.events.change import Change
from govgraph.events.note import DELIVERY, DELIVERY_RECORDED, DeliveryNote
from govgraph.events.subscription import Subscription


class DeliveryDeferred(Exception):
    """The delivery's audit record could not be committed, so nothing of the change may leave yet."""


async def render_event(
    endpoint: ASGIApp,
    app: Any,
    subscription: Subscription,
    change: Change,
    subscription_id: str,
    *,
    changed: tuple[str, ...] | None = None,
) -> dict[str, Any] | None:
    """The GraphQL response for this change (``{"data": {"changes": {...}}}``), or ``None`` when the
    change touched none of the fields the subscriber watches and may see.

    ``changed``: the fields an outbox row names, instead of reading them from the change's columns;
    still narrowed to those the subscription may see now."""
    if changed is None:
        changed = subscription.changed(change)
    else:
        changed = tuple(name for name in changed if name in subscription.fields)
    if not changed:
        return None
    note = DeliveryNote(
        subscription=subscription_id,
        entity=change.entity,
        department=change.department,
        key=change.key,
        notified={
            f"{change.entity}.{name}": subscription.decisions[f"{change.entity}.{name}"] for name in changed
        },
    )
    variables = {**subscription.variables, subscription.key_variable: change.key}
    response = await run_query(endpoint, app, subscription, variables, note)
    data = response.get("data") or {}
    event: dict[str, Any] = {}
    for key, name in subscription.event_fields:
        if key in subscription.entity_keys:
            event[key] = data.get(key)
        else:
            event[key] = _event_field(name, subscription, change, changed)
    payload: dict[str, Any] = {"data": {subscription.response_key: event}}
    errors = [_under(subscription.response_key, error) for error in response.get("errors") or ()]
    if errors:
        payload["errors"] = errors
    return payload


def _event_field(name: str, subscription: Subscription, change: Change, changed: tuple[str, ...]) -> Any:
    if name == "key":
        return subscription.event_key(change.key)
    if name == "entity":
        return change.entity
    if name == "department":
        return change.department
    if name == "changedFields":
        return list(changed)
    if name == "at":
        return change.at
    if name == "__typename":
        return "ChangeEvent"
    return None  # another entity's field: this event is not about one


def _under(response_key: str, error: dict[str, Any]) -> dict[str, Any]:
    path = error.get("path")
    if not path:
        return error
    return {**error, "path": [response_key, *path]}


async def run_query(
    endpoint: ASGIApp,
    app: Any,
    subscription: Subscription,
    variables: dict[str, Any],
    note: DeliveryNote,
) -> dict[str, Any]:
    """Run the subscription's query through the endpoint, in-process, as the subscriber."""
    body = orjson.dumps(
        {"query": subscription.query, "variables": variables, "operationName": "GovgraphChange"}
    )
    state: dict[str, Any] = {
        "principal": subscription.principal,
        "request_id": uuid.uuid4().hex,
        DELIVERY: note,
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": None,
        "server": None,
        "app": app,
        "state": state,
    }
    sent = False
    chunks: list[bytes] = []
    status = 500

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await endpoint(scope, receive, send)
    if not state.get(DELIVERY_RECORDED):
        raise DeliveryDeferred()
    response = orjson.loads(b"".join(chunks))
    if status >= 500 or not isinstance(response, dict):
        raise DeliveryDeferred()
    return response
