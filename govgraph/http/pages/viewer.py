"""Who is looking at a page: the same bearer token as /graphql, decided by the same authorizer.

The token comes from ``Authorization: Bearer`` (``AuthenticationMiddleware``
has already verified it and left the principal on the scope, exactly as
for /graphql), or, for a browser, which cannot attach that header to a
link, from a small form POSTed to the page itself. The form's token is put
through ``AuthenticationMiddleware`` too, over a request of its own, so both
ways get the same checks (signature, expiry, issuer and audience, a known
department, a purpose the token does not contradict and the policy knows).

Why a form and not ``?token=``: a token in an address ends up in history,
proxy logs and ``Referer`` headers. Why no cookie or session: a cookie is an
ambient credential, which would make cross-site requests carry it and need
CSRF defences and a logout; the form carries nothing ambient, so a forged
cross-site POST can at most show its sender's own token's view. The pages
are read-only, so that is harmless.

Never a token in a response: the page rendered for a posted token does not
repeat it, so navigating on means pasting it again (or sending the header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from govgraph.auth.decisions import Authorizer
from govgraph.auth.middleware import AuthenticationMiddleware
from govgraph.auth.policy import OPERATIONS
from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.auth.tokens import TokenVerifier, verifier_for

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
"""An identity provider's RS256 token with many claims is a few kilobytes; nothing the form carries is more."""
MAX_FORM_FIELDS = 8
OVERSIGHT = "Query.auditLog"
"""A principal the policy lets read the audit log oversees sharing: it sees every role's access."""
USAGE = "Query.usage"
"""The /usage dashboard is for whoever the policy lets read ``usage`` over GraphQL."""


class Refused(Exception):
    """A page not shown: its status, a title and a message for the person (text, escaped when rendered)."""

    def __init__(self, status: int, title: str, message: str, *, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.sign_in = sign_in
        """Offer the token form: a different token would help."""


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    authorizer: Authorizer
    form: dict[str, str] = field(default_factory=dict)
    """Fields posted with the token, other than the token and purpose (``days`` for /usage)."""

    def may_read(self, coordinate: str) -> bool:
        return self.authorizer.decide(self.principal, coordinate).access == "read"

    @property
    def oversees(self) -> bool:
        return self.may_read(OVERSIGHT)

    @property
    def sees_usage(self) -> bool:
        return self.may_read(USAGE)


def authorizer_of(app: Starlette) -> Authorizer:
    """The app's authorizer; with authorization switched off (benchmarks only) one over the same policy,
    since the pages never show more than the policy would."""
    authorizer: Authorizer | None = app.state.authorizer
    if authorizer is None:
        authorizer = getattr(app.state, "pages_authorizer", None)
        if authorizer is None:
            authorizer = Authorizer(app.state.catalog, app.state.policy, OPERATIONS)
            app.state.pages_authorizer = authorizer
    return authorizer


def _verifier_of(app: Starlette) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(app.state, "pages_verifier", None)
    if verifier is None:
        verifier = verifier_for(app.state.settings)
        app.state.pages_verifier = verifier
    return verifier


async def viewer_of(request: Request) -> Viewer:
    """The viewer, or ``Refused`` (401) for no token or one that fails a check."""
    principal: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    form: dict[str, str] = {}
    if request.method == "POST":
        form = await _form(request)
        token, purpose = form.pop("token", "").strip(), form.pop("purpose", "").strip()
        if token:
            principal = await _principal_from_form(request, token, purpose or None)
        elif not principal.authenticated:
            raise Refused(401, "Sign in", "The form carried no token.", sign_in=True)
    if not principal.authenticated:
        raise Refused(
            401,
            "Sign in",
            "This page is shown to a signed-in principal only: it needs a bearer token.",
            sign_in=True,
        )
    return Viewer(principal, authorizer_of(request.app), form)


async def _form(request: Request) -> dict[str, str]:
    """The posted fields (the first of each name), read within ``MAX_FORM_BYTES``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise Refused(415, "Unsupported form", f"Post the form as {FORM}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, "Form too large", f"The form is over {MAX_FORM_BYTES} bytes.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "Bad form", "The form is not URL-encoded UTF-8 with a few fields.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def _principal_from_form(request: Request, token: str, purpose: str | None) -> Principal:
    """Run ``AuthenticationMiddleware`` over a request carrying the posted token as its header."""
    # Not at import: govgraph.server imports the pages.
    from govgraph.server import consumer_departments

    try:
        headers = [(b"authorization", b"Bearer " + token.encode("ascii"))]
        if purpose is not None:
            headers.append((b"x-purpose", purpose.encode("ascii")))
    except UnicodeEncodeError:
        raise Refused(400, "Bad form", "A token and a purpose are plain ASCII.", sign_in=True) from None
    app: Starlette = request.app
    outcome: dict[str, Any] = {}

    async def accepted(scope: Scope, receive: Receive, send: Send) -> None:
        outcome["principal"] = scope["state"]["principal"]

    async def refused(message: Message) -> None:
        if message["type"] == "http.response.start":
            outcome["status"] = message["status"]
        elif message.get("body"):
            outcome["message"] = orjson.loads(message["body"])["errors"][0]["message"]

    async def no_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    check = AuthenticationMiddleware(
        accepted,
        _verifier_of(app),
        purposes=app.state.policy.purposes,
        departments=consumer_departments(app.state.catalog, app.state.policy),
    )
    scope = {"type": "http", "method": "GET", "path": request.url.path, "headers": headers, "state": {}}
    await check(scope, no_body, refused)
    if "principal" in outcome:
        return outcome["principal"]  # type: ignore[no-any-return]
    status = 400 if outcome.get("status") == 400 else 401
    title = "Bad request" if status == 400 else "Sign in"
    raise Refused(status, title, str(outcome.get("message", "the token was refused")), sign_in=True)
