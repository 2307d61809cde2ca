"""The GraphQL endpoint: strawberry's ASGI view, with govgraph's context and result shape.

- ``get_context`` builds the per-request context: request id, loaders.
- ``process_result`` places errors for plain-attribute paths, gives every
  error one ``extensions.code``, hides unexpected errors behind ``INTERNAL``
  and adds ``extensions.requestId``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from graphql import ExecutionResult, GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse

from govgraph.auth.decisions import Authorizer
from govgraph.auth.middleware import request_id_of
from govgraph.auth.principal import ANONYMOUS
from govgraph.errors import GovgraphError
from govgraph.resolvers.context import RequestContext
from govgraph.resolvers.loaders import Loaders

logger = logging.getLogger("govgraph.endpoint")


class GraphQLEndpoint(GraphQL):
    def __init__(
        self, schema: Any, *, authorizer: Authorizer | None, requirements: Any, **options: Any
    ) -> None:
        super().__init__(schema, **options)
        self.authorizer = authorizer
        self.requirements = requirements

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        context = RequestContext(
            request_id=request_id_of(request.scope),
            loaders=Loaders(request.app.state.sources),
            principal=request.scope.get("state", {}).get("principal", ANONYMOUS),
            authorizer=self.authorizer,
            requirements=self.requirements,
            request=request,
            response=response,
        )
        request.state.govgraph = context
        return context

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        context: RequestContext | None = getattr(request.state, "govgraph", None)
        request_id = context.request_id if context else uuid.uuid4().hex
        errors = [format_error(error, request_id) for error in result.errors or ()]
        if context is not None and result.data is not None:
            errors.extend(
                {
                    "message": path_error.error.message,
                    "path": list(path_error.path),
                    "extensions": path_error.error.extensions(),
                }
                for path_error in context.path_errors
            )
        response: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            response["errors"] = errors
        response["extensions"] = {**(result.extensions or {}), "requestId": request_id}
        return response


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
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
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED" if error.path is None else "INTERNAL")
        formatted["extensions"] = extensions
    return formatted
