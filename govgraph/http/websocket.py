"""Subscriptions over WebSocket: the ``graphql-transport-ws`` protocol, at ``/graphql``.

https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md. The client
authenticates in ``connection_init`` (``{"Authorization": "Bearer ..."}``,
optionally ``"X-Purpose"``), or with the upgrade request's own headers; each
``subscribe`` is decided once, then streams ``next`` messages until the
client sends ``complete`` or leaves. Protocol faults close the socket with
the protocol's codes: 4400 bad message, 4401 not yet acknowledged, 4403
refused credentials, 4408 no ``connection_init`` in time, 4409 a duplicate
id, 4429 a second ``connection_init``. When the token the connection was
made with expires, the socket is closed with 4403 (``the token has
expired``): a client reconnects with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from govgraph.auth.principal import Principal
from govgraph.errors import BadUserInput, GovgraphError, Unauthenticated
from govgraph.events.subscription import SubscriptionRefused

logger = logging.getLogger("govgraph.http.websocket")

PROTOCOL = "graphql-transport-ws"
MAX_MESSAGE = 64 * 1024
MAX_OPERATIONS = 32
"""Subscriptions one connection may hold at once."""
EXPIRED = "Forbidden: the token has expired; reconnect with a fresh one"


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def graphql_websocket(websocket: WebSocket) -> None:
    if PROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.accept()
        await websocket.close(4406, f"Subprotocol not acceptable: speak {PROTOCOL}")
        return
    hub = getattr(websocket.app.state, "hub", None)
    await websocket.accept(subprotocol=PROTOCOL)
    if hub is None:
        await websocket.close(4500, "subscriptions are not enabled on this server")
        return
    connection = Connection(websocket)
    try:
        await connection.serve()
    except ProtocolError as error:
        await connection.stop()
        if websocket.client_state != WebSocketState.DISCONNECTED:
            await websocket.close(error.code, error.reason[:120])
    except WebSocketDisconnect:
        await connection.stop()
    finally:
        await connection.stop()


class Connection:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.state = websocket.app.state
        self.principal: Principal | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.init_seen = False
        self._send_lock = asyncio.Lock()

    async def serve(self) -> None:
        timeout = self.state.settings.websocket_init_timeout
        try:
            first = await asyncio.wait_for(self._receive(), timeout)
        except TimeoutError:
            raise ProtocolError(4408, "Connection initialisation timeout") from None
        await self._handle(first)
        while True:
            await self._handle(await self._receive_before_expiry())

    async def _receive_before_expiry(self) -> dict[str, Any]:
        expires_at = self.principal.expires_at if self.principal is not None else None
        if expires_at is None:
            return await self._receive()
        try:
            return await asyncio.wait_for(self._receive(), max(0.0, expires_at - time.time()))
        except TimeoutError:
            raise ProtocolError(4403, EXPIRED) from None

    async def _receive(self) -> dict[str, Any]:
        text = await self.websocket.receive_text()
        if len(text) > MAX_MESSAGE:
            raise ProtocolError(4400, f"message larger than {MAX_MESSAGE} bytes")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ProtocolError(4400, "message is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError(4400, "message has no type")
        return message

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise ProtocolError(4400, f"unknown message type {kind[:32]}")

    async def _init(self, payload: Any) -> None:
        if self.init_seen:
            raise ProtocolError(4429, "Too many initialisation requests")
        self.init_seen = True
        if payload is not None and not isinstance(payload, dict):
            raise ProtocolError(4400, "connection_init payload must be an object")
        payload = payload or {}
        headers = self.websocket.headers
        authorization = _field(payload, "authorization") or headers.get("authorization")
        purpose = _field(payload, "x-purpose") or headers.get("x-purpose")
        try:
            self.principal = await self.state.authentication.principal_for(authorization, purpose)
        except (Unauthenticated, BadUserInput) as error:
            raise ProtocolError(4403, f"Forbidden: {error.message}") from None
        if self.principal.expires_at is not None and self.principal.expires_at <= time.time():
            raise ProtocolError(4403, EXPIRED)
        await self._send({"type": "connection_ack"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if self.principal is None:
            raise ProtocolError(4401, "Unauthorized")
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise ProtocolError(4400, "subscribe needs an id and a payload")
        if operation_id in self.operations:
            raise ProtocolError(4409, f"Subscriber for {operation_id[:64]} already exists")
        if len(self.operations) >= MAX_OPERATIONS:
            await self._error(
                operation_id, [_message(f"at most {MAX_OPERATIONS} subscriptions per connection")]
            )
            return
        try:
            subscription = self.state.parse_subscription(
                self.principal, payload.get("query"), payload.get("variables"), payload.get("operationName")
            )
        except SubscriptionRefused as refused:
            await self._error(operation_id, refused.errors)
            return
        except GovgraphError as error:
            await self._error(operation_id, [{"message": error.message, "extensions": error.extensions()}])
            return
        self.operations[operation_id] = asyncio.create_task(self._stream(operation_id, subscription))

    async def _stream(self, operation_id: str, subscription: Any) -> None:
        try:
            async for event in self.state.hub.stream(subscription):
                await self._send({"type": "next", "id": operation_id, "payload": event})
        except asyncio.CancelledError:
            raise
        except GovgraphError as error:
            await self._error(operation_id, [{"message": error.message, "extensions": error.extensions()}])
            self.operations.pop(operation_id, None)
            return
        except Exception:
            logger.exception("subscription %s failed", operation_id)
            await self._error(operation_id, [_message("internal error", "INTERNAL")])
            self.operations.pop(operation_id, None)
            return
        self.operations.pop(operation_id, None)
        with contextlib.suppress(Exception):
            await self._send({"type": "complete", "id": operation_id})

    async def _error(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        await self._send({"type": "error", "id": operation_id, "payload": errors})

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(orjson.dumps(message).decode())

    async def stop(self) -> None:
        tasks, self.operations = list(self.operations.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _field(payload: dict[str, Any], name: str) -> str | None:
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    headers = payload.get("headers")
    if isinstance(headers, dict) and headers is not payload:
        return _field(headers, name)
    return None


def _message(text: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    return {"message": text, "extensions": {"code": code}}
