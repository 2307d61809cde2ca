"""A page's endpoint: find the viewer, render, or show why not (401 with the token form, 403, 400).

Refusals are pages too, with the same headers, so a browser gets something
readable; they say what would help (a token, a different role) and never
anything the viewer may not see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from govgraph.http.pages.layout import esc, render
from govgraph.http.pages.viewer import Refused, Viewer, viewer_of

Render = Callable[[Request, Viewer], Awaitable[Response]]
ExtraFields = Callable[[Request], str]


def links(request: Request, viewer: Viewer | None = None) -> list[tuple[str, str]]:
    """The navigation: the usage dashboard only for whoever may open it, GraphiQL only where it is on."""
    items = [("Catalog", "/catalog")]
    if viewer is not None and viewer.sees_usage:
        items.append(("Usage", "/usage"))
    if request.app.state.settings.graphiql_enabled:
        items.append(("GraphiQL", "/graphql"))
    return items


def who(viewer: Viewer) -> str:
    """The viewer's roles, department and purpose: never the subject, which may be a resident's ID number."""
    principal = viewer.principal
    roles = ", ".join(principal.roles) or "no role"
    return (
        f'<p class="muted">Signed in with roles <code>{esc(roles)}</code>, department '
        f"<code>{esc(principal.department or 'none')}</code>, purpose "
        f"<code>{esc(principal.purpose or 'none stated')}</code>.</p>"
    )


def sign_in_form(request: Request, extra_fields: str = "") -> str:
    development = request.app.state.settings.environment == "development"
    source = (
        "In development, <code>govgraph token --role ROLE --purpose PURPOSE</code> prints one "
        "(<code>govgraph token --help</code> lists the options)."
        if development
        else "Use a token from your identity provider, as for /graphql."
    )
    return (
        "<p>Send the same bearer token as for <code>/graphql</code> in an "
        "<code>Authorization: Bearer &lt;token&gt;</code> header, or paste it here: it is posted in the "
        "request body and never put in the address.</p>"
        f'<p class="muted">{source}</p>'
        f'<form method="post" action="{esc(request.url.path)}">'
        '<label for="token">Bearer token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>'
        '<label for="purpose">Purpose (only for a token that binds none)</label>'
        '<input id="purpose" name="purpose" autocomplete="off" spellcheck="false" maxlength="64">'
        f'{extra_fields}<button type="submit">Open</button></form>'
    )


def refusal(request: Request, refused: Refused, extra_fields: ExtraFields | None = None) -> Response:
    body = f'<div class="note refusal"><p>{esc(refused.message)}</p></div>'
    if refused.sign_in:
        body += sign_in_form(request, extra_fields(request) if extra_fields else "")
    headers = {"WWW-Authenticate": 'Bearer realm="govgraph"'} if refused.status == 401 else None
    return render(refused.title, body, links=links(request), status=refused.status, headers=headers)


def page(
    render_page: Render, extra_fields: ExtraFields | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for a page: ``render_page`` runs for an authenticated viewer and may raise
    ``Refused``; ``extra_fields`` adds the page's own fields to the token form."""

    async def endpoint(request: Request) -> Response:
        try:
            viewer = await viewer_of(request)
            return await render_page(request, viewer)
        except Refused as refused:
            return refusal(request, refused, extra_fields)

    endpoint.__doc__ = render_page.__doc__
    return endpoint
