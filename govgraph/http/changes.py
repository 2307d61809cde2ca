"""``POST /changes/{department}``: where a department behind a service reports that its records changed.

A department whose catalog ``source`` has a ``changes`` block calls this
when a record changes, as a database trigger would write its change table.
The call is signed Standard Webhooks style (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``) with the secret in the
block's ``secret_env``; the body is described in ``events/received.py``.

Answers, each JSON:

- 200 ``{"received": n, "recorded": m, "duplicate": false}``: committed to
  govgraph's store; ``recorded`` counts the changes to subscribable columns.
  The same ``webhook-id`` again answers 200 with ``"duplicate": true`` and
  records nothing, so a department retries freely.
- 400 the body is not a list of changes this department reports (the
  message says which part and why); 401 the signature is missing, stale or
  wrong; 404 no such department takes changes here; 413 the body is too
  large; 503 govgraph's store cannot take it now (retry).

Nothing of the body is echoed beyond the names it got wrong, cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from govgraph.catalog.model import Catalog
from govgraph.catalog.specs import GraphQLSourceSpec, HttpSourceSpec
from govgraph.errors import AuditStoreError, CatalogError
from govgraph.events.received import (
    MAX_BODY_BYTES,
    ChangesRejected,
    ReportedTable,
    parse_changes,
    reported_tables,
)
from govgraph.events.signing import SignatureError, check_secret, verify
from govgraph.http.body import read_body

logger = logging.getLogger("govgraph.events.changes")

MAX_MESSAGE_ID = 200


@dataclass(frozen=True, slots=True)
class ChangeReceiver:
    """What govgraph needs to take one department's calls."""

    department: str
    secret: str
    tolerance: int
    tables: Mapping[str, ReportedTable]


def change_receivers(catalog: Catalog, environ: Mapping[str, str]) -> dict[str, ChangeReceiver]:
    """One receiver per department behind a service with a ``changes`` block; its secret must be set."""
    receivers = {}
    for department in catalog.departments.values():
        source = department.source
        if not isinstance(source, HttpSourceSpec | GraphQLSourceSpec) or source.changes is None:
            continue
        secret = environ.get(source.changes.secret_env, "")
        where = "source.changes.secret_env"
        if not secret:
            raise CatalogError(department.file, where, f"{source.changes.secret_env} is not set")
        try:
            check_secret(secret)
        except ValueError as error:
            raise CatalogError(department.file, where, f"{source.changes.secret_env}: {error}") from None
        receivers[department.id] = ChangeReceiver(
            department.id, secret, source.changes.tolerance, reported_tables(catalog, department.id)
        )
    return receivers


async def changes_endpoint(request: Request) -> JSONResponse:
    department = request.path_params["department"]
    receiver = request.app.state.change_receivers.get(department)
    if receiver is None:
        return _refuse(404, f"department {department[:40]} reports no changes to this server", "NOT_FOUND")
    declared = request.headers.get("content-length", "")
    body = (
        None
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES
        else await read_body(request.receive, MAX_BODY_BYTES)
    )
    if body is None:
        return _refuse(413, f"the body is larger than {MAX_BODY_BYTES} bytes", "PAYLOAD_TOO_LARGE")
    try:
        verify(receiver.secret, request.headers, body, tolerance=receiver.tolerance)
    except SignatureError as error:
        logger.warning("changes from %s refused: %s", department, error)
        return _refuse(401, f"the call is not signed by {department}: {error}", "UNAUTHENTICATED")
    message_id = request.headers["webhook-id"]
    if len(message_id) > MAX_MESSAGE_ID or not message_id.isprintable():
        return _refuse(400, f"webhook-id must be printable and at most {MAX_MESSAGE_ID} characters")
    try:
        received, recorded = parse_changes(receiver.tables, body)
    except ChangesRejected as error:
        return _refuse(400, str(error))
    inbox = getattr(request.app.state, "inbox", None)
    if inbox is None:
        return _refuse(
            503, "subscriptions are starting: govgraph's store is not reachable yet", "UNAVAILABLE"
        )
    try:
        taken = await inbox.receive(department, message_id, recorded)
    except AuditStoreError:
        return _refuse(503, "govgraph's store cannot take changes now; retry", "UNAVAILABLE")
    if not taken:
        return JSONResponse({"received": received, "recorded": 0, "duplicate": True})
    return JSONResponse({"received": received, "recorded": len(recorded), "duplicate": False})


def _refuse(status: int, message: str, code: str = "BAD_USER_INPUT") -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status, headers=headers
    )
