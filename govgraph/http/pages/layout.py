"""The HTML shell every page shares: escaping, the style sheet, the navigation and the response headers.

The pages are metadata about who may see what, so they are never cached
(``no-store``: a shared proxy must not hand an auditor's page to a clerk)
and they run no script at all. The Content-Security-Policy says so, which
also means any markup that slipped through escaping could not execute.
Everything interpolated into a page goes through ``esc`` (``html.escape``,
quotes included, so it is safe in attributes too).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from starlette.responses import HTMLResponse

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#fafbfc}
header{display:flex;gap:16px;align-items:center;padding:8px 16px;border-bottom:1px solid #d8dde3;background:#fff}
header strong{margin-right:8px}
main{padding:12px 16px;max-width:1400px}
h1{font-size:20px;margin:8px 0 12px}
h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #d8dde3;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace}
.muted{color:#5b6773}
.note{background:#fff;border:1px solid #d8dde3;border-left:4px solid #3b6ea5;padding:8px 12px;margin:10px 0}
.refusal{border-left-color:#b3261e}
.a-read{background:#d7f0dc}.a-mask{background:#fdf1c7}.a-verify{background:#dde8fb}.a-deny{background:#f6d9d7}
.c-public{color:#1e6b34}.c-internal{color:#3b6ea5}.c-conditional{color:#8a5a00}.c-sensitive{color:#b3261e}
form label{display:block;margin:8px 0 2px}
form input{font:13px ui-monospace,monospace;width:min(720px,100%);padding:4px}
form button{margin-top:10px;padding:4px 14px}
svg{background:#fff;border:1px solid #d8dde3;margin:6px 0 12px}
svg text{font:12px system-ui,sans-serif;fill:#1d2733}
svg .bar{fill:#3b6ea5}svg .denied{fill:#b3261e}svg .axis{stroke:#8a949e}
"""


def esc(value: object) -> str:
    """Text for HTML content or a quoted attribute value."""
    return html.escape(str(value), quote=True)


def nav(links: Iterable[tuple[str, str]]) -> str:
    items = "".join(f'<a href="{esc(href)}">{esc(label)}</a>' for label, href in links)
    return f"<header><strong>govgraph</strong>{items}</header>"


def render(
    title: str,
    body: str,
    *,
    links: Iterable[tuple[str, str]] = (),
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A complete page: ``title`` is text (escaped here), ``body`` markup the caller has already escaped."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · govgraph</title><style>{STYLE}</style></head>"
        f"<body>{nav(links)}<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers={**HEADERS, **(headers or {})})
