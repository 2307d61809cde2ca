"""The GraphQL endpoint: strawberry's ASGI view, with govgraph's context and result shape.

- ``get_context`` builds the per-request context: request id, loaders,
  principal, limits and what the caller may see of the schema.
- ``process_result`` commits the audit record before release (withholding
  protected values when it cannot), places errors for plain-attribute paths,
  gives every error one ``extensions.code``, hides unexpected errors behind
  ``INTERNAL``, stores an accepted persisted query, and adds
  ``extensions.requestId``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse

from govgraph.audit.recorder import build_record
from govgraph.audit.withhold import beneath, withhold
from govgraph.audit.writer import AuditWriter
from govgraph.auth.decisions import Authorizer
from govgraph.auth.middleware import request_id_of
from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.cache.control import demand_for
from govgraph.cache.rows import NO_DEPARTMENT
from govgraph.catalog.model import Catalog
from govgraph.errors import AuditUnavailable, GovgraphError
from govgraph.events.note import DELIVERY, DELIVERY_RECORDED, DeliveryNote
from govgraph.http.caching import PRIVATE, cache_control, root_field_names
from govgraph.http.ide import offline_graphiql_html
from govgraph.http.ide_examples import demo_choices, demo_tabs
from govgraph.http.observation import note_result
from govgraph.http.responses import GRAPHQL_RESPONSE, accepts_graphql_response
from govgraph.operation.limits import Limits
from govgraph.operation.prepared import PreparedOperations
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.loaders import Loaders

logger = logging.getLogger("govgraph.endpoint")


class GraphQLEndpoint(GraphQL):
    def __init__(
        self,
        schema: Any,
        *,
        catalog: Catalog,
        authorizer: Authorizer | None,
        requirements: Any,
        limits: Limits,
        production: bool = False,
        prepared: PreparedOperations | None = None,
        compile_plans: bool = True,
        shareable_roots: frozenset[str] = frozenset(),
        **options: Any,
    ) -> None:
        """``shareable_roots``: root fields whose public-only answers are the same for anyone."""
        super().__init__(schema, **options)
        self.shareable_roots = shareable_roots
        self._ide_html: str | None = None
        self.prepared = prepared
        self.compile_plans = compile_plans
        self.catalog = catalog
        self.authorizer = authorizer
        self.requirements = requirements
        self.limits = limits
        self.production = production

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
        settings = request.app.state.settings
        # A change is delivered as the record is now: never from the cache.
        delivery = request.scope.get("state", {}).get(DELIVERY) is not None
        demand, cache_note = demand_for(
            request.headers.get("cache-control"),
            delivery or self._may_bypass_cache(principal),
            settings.cache_min_max_age,
        )
        context = RequestContext(
            request_id=request_id_of(request.scope),
            loaders=Loaders(
                request.app.state.sources,
                getattr(request.app.state, "cache", None),
                demand,
                deadline=asyncio.get_running_loop().time() + settings.request_timeout,
                partition=principal.department or NO_DEPARTMENT,
            ),
            principal=principal,
            cache_note=cache_note,
            authorizer=self.authorizer,
            requirements=self.requirements,
            limits=self.limits,
            catalog=self.catalog,
            entities=self.schema.entity_loader,
            prepared=self.prepared,
            compile=self.compile_plans,
            sdl_open=not self.production
            or principal.authenticated
            or bool(request.scope.get("state", {}).get("router_credential")),
            hide_suggestions=self.production,
            questions=getattr(request.app.state, "questions", None),
            response=response,
            audit=getattr(request.app.state, "audit_store", None),
        )
        request.state.govgraph = context
        writer: AuditWriter | None = getattr(request.app.state, "audit_writer", None)
        if writer is not None and not delivery and isinstance(request, Request):
            # Bound to the writer and the client's address, not to the request: the context is in the
            # request's state, and a reference back would keep every request's rows for the cyclic collector.
            context.begin_audit = functools.partial(self._begin_audit, writer, _client_address(request))
        if isinstance(response, Response):
            # Rows a compiled plan left for the cache (``Loaders.defer_refills``): stored once the response
            # has gone, off its path. Rows read before an invalidation are never stored, however late.
            response.loaders = context.loaders  # type: ignore[attr-defined]
            response.graphql_response_json = accepts_graphql_response(request.headers)  # type: ignore[attr-defined]
        return context

    async def render_graphql_ide(self, request: Request) -> Response:
        settings = request.app.state.settings
        if settings.environment == "development" and settings.jwt_secret is None:
            # Tokens signed with the demo secret verify only here: offer them, fresh for each page.
            choices = demo_choices(request.app.state.policy)
            development = {"choices": [vars(choice) for choice in choices], "tabs": demo_tabs(choices)}
            return HTMLResponse(offline_graphiql_html(development), headers={"Cache-Control": "no-store"})
        if self._ide_html is None:
            self._ide_html = offline_graphiql_html()
        return HTMLResponse(self._ide_html)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """``application/graphql-response+json`` when the client accepts it: a request error (a document
        that does not parse or validate, or is refused before it runs) is then a 400 without ``data``."""
        graphql_response = getattr(sub_response, "graphql_response_json", False)
        request_error = (
            isinstance(response_data, dict)
            and response_data.get("data") is None
            and bool(response_data.get("errors"))
        )
        if graphql_response and request_error and "data" in response_data:
            response_data = {key: value for key, value in response_data.items() if key != "data"}
        response = super().create_response(response_data, sub_response)
        loaders = getattr(sub_response, "loaders", None)
        if loaders is not None and loaders.refills_waiting:
            response.background = BackgroundTask(loaders.refill)
        request_id = (
            response_data.get("extensions", {}).get("requestId") if isinstance(response_data, dict) else None
        )
        if request_id:
            response.headers["x-request-id"] = request_id
        response.headers["cache-control"] = getattr(sub_response, "cache_control", PRIVATE)
        if graphql_response:
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if request_error:
                response.status_code = 400
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        context: RequestContext | None = getattr(request.state, "govgraph", None)
        request_id = context.request_id if context else uuid.uuid4().hex
        withheld: set[tuple[str | int, ...]] = set()
        if context is not None and isinstance(result.data, dict):
            context.served_from = context.loaders.freshness.served_from()
            withheld = await self._record(request, context, result.data)
        errors = [
            format_error(error, request_id, hide_suggestions=self.production)
            for error in result.errors or ()
            if not beneath(error.path, withheld)
        ]
        if context is not None and result.data is not None:
            errors.extend(
                {
                    "message": path_error.error.message,
                    "path": list(path_error.path),
                    "extensions": path_error.error.extensions(),
                }
                for path_error in context.path_errors
            )
        if context is not None and context.accepted:
            learn = request.scope.get("state", {}).get("persisted_candidate")
            persisted = getattr(request.app.state, "persisted", None)
            if learn is not None and persisted is not None:
                persisted.learn(*learn)
        response: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            response["errors"] = in_response_order(errors, result.data)
        extensions: dict[str, Any] = {**(result.extensions or {}), "requestId": request_id}
        if context is not None:
            cache = getattr(request.app.state, "cache", None)
            now = cache.clock() if cache is not None else time.time()
            extensions["freshness"] = context.loaders.freshness.extension(now)
            if context.cache_note:
                extensions["cacheControl"] = context.cache_note
            if isinstance(context.response, Response):
                context.response.cache_control = cache_control(  # type: ignore[attr-defined]
                    public_only=context.public_only and not withheld,
                    errors=bool(errors),
                    root_fields=root_field_names(context.collection)
                    if context.collection is not None
                    else (),
                    shareable_roots=self.shareable_roots,
                    freshness=context.loaders.freshness,
                    now=now,
                )
        response["extensions"] = extensions
        note_result(request.scope, context, response)
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def _may_bypass_cache(self, principal: Principal) -> bool:
        if self.authorizer is None:
            return True
        return any(role.cache_bypass for role in self.authorizer.effective_roles(principal))

    async def _record(
        self, request: Request, context: RequestContext, data: dict[str, Any]
    ) -> set[tuple[str | int, ...]]:
        """No conditional or sensitive value leaves before its audit record is committed.

        Returns the withheld paths (empty when the record was committed, or needed none).
        """
        writer: AuditWriter | None = getattr(request.app.state, "audit_writer", None)
        if writer is None:
            return set()
        client = _client_address(request)
        state = request.scope.get("state", {})
        note: DeliveryNote | None = state.get(DELIVERY)
        if note is not None:
            return await self._record_delivery(writer, context, data, note, client, state)
        if context.audit_begun is not None:
            record, commit = context.audit_begun  # built once the reads were done, committing since
        else:
            record, commit = build_record(context, self.catalog, client), None
        if record is None and not context.released:
            context.public_only = True
            return set()
        if record is not None and not record.sensitive and not context.released:
            # Committed, or journaled: durable before release either way.
            await writer.record(record, commit)
            return set()
        try:
            if record is None:
                raise AuditUnavailable()
            await (commit or writer.commit(record))
        except AuditUnavailable:
            return self._withhold(context, data)
        return set()

    def _begin_audit(self, writer: AuditWriter, client: str | None, context: RequestContext) -> None:
        """The record as the reads left it, its commit started; ``_record`` waits for it before release."""
        context.served_from = context.loaders.freshness.served_from()
        record = build_record(context, self.catalog, client)
        commit = None if record is None else asyncio.ensure_future(writer.commit(record))
        if commit is not None:
            commit.add_done_callback(_retrieved)
        context.audit_begun = (record, commit)

    async def _record_delivery(
        self,
        writer: AuditWriter,
        context: RequestContext,
        data: dict[str, Any],
        note: DeliveryNote,
        client: str | None,
        state: dict[str, Any],
    ) -> set[tuple[str | int, ...]]:
        """A delivery is always recorded, and committed before anything leaves: the notification itself
        (this record's key, these fields changed) is information, even with nothing else selected."""
        for coordinate, decision in note.notified.items():
            context.decisions.setdefault(coordinate, decision)
        context.touch(note.entity, note.department, [note.key])
        record = build_record(context, self.catalog, client, delivery=note.subscription)
        try:
            if record is None:
                raise AuditUnavailable()
            await writer.commit(record)
        except AuditUnavailable:
            return self._withhold(context, data)
        state[DELIVERY_RECORDED] = True
        return set()

    def _withhold(self, context: RequestContext, data: dict[str, Any]) -> set[tuple[str | int, ...]]:
        path_errors = withhold(data, context.released)
        withheld = {path_error.path for path_error in path_errors}
        context.path_errors = [
            path_error for path_error in context.path_errors if not beneath(path_error.path, withheld)
        ]
        context.path_errors.extend(path_errors)
        logger.error(
            "audit store unavailable: withheld %d conditional or sensitive values of request %s",
            len(path_errors),
            context.request_id,
        )
        return withheld


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _retrieved(commit: asyncio.Future[None]) -> None:
    """A commit begun for a request that then never got to its release (it failed, or its client left)."""
    if not commit.cancelled():
        commit.exception()


def in_response_order(errors: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """Errors without a path first, then by where their path falls in the response, in document order.

    GraphQL leaves the order open; one fixed order makes every way of running an operation (graphql-core,
    a compiled plan) answer byte for byte the same."""

    def position(error: dict[str, Any]) -> tuple[Any, ...]:
        path = error.get("path")
        if not path:
            return (0, (), error.get("message", ""))
        steps: list[int] = []
        node = data
        for step in path:
            if isinstance(step, int):
                steps.append(step)
                node = node[step] if isinstance(node, list) and step < len(node) else None
            else:
                keys = list(node) if isinstance(node, dict) else []
                steps.append(keys.index(step) if step in keys else len(keys))
                node = node.get(step) if isinstance(node, dict) else None
        return (1, tuple(steps), error.get("message", ""))

    return sorted(errors, key=position)


def format_error(error: GraphQLError, request_id: str, *, hide_suggestions: bool = False) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if hide_suggestions and "Did you mean" in formatted["message"]:
        formatted["message"] = formatted["message"].split("Did you mean")[0].rstrip()
    original = error.original_error
    if isinstance(original, GovgraphError):
        formatted["message"] = original.message
        formatted["extensions"] = original.extensions()
    elif original is not None and not isinstance(original, GraphQLError):
        formatted["message"] = f"Internal error; quote request id {request_id} to the operator."
        formatted["extensions"] = {"code": "INTERNAL"}
    else:
        extensions = dict(formatted.get("extensions") or {})
        if error.message.startswith("Syntax Error"):
            extensions.setdefault("code", "GRAPHQL_PARSE_FAILED")
        if error.message.startswith("Variable '$"):
            extensions.setdefault("code", "BAD_USER_INPUT")
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED" if error.path is None else "INTERNAL")
        formatted["extensions"] = extensions
    return formatted
