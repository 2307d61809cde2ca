"""GraphiQL without the internet: strawberry's page, its seven assets served from the package itself.

The files in ``static/graphiql`` are the exact npm files the page names on a
CDN (``THIRD_PARTY.md`` lists them, their licences and hashes), so the
page's subresource-integrity hashes still hold. ``ASSETS`` maps each CDN
address to its file; a page that names an address not in it is refused at
start-up, so an upgrade of strawberry cannot quietly bring a CDN back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

STATIC = Path(__file__).parent / "static" / "graphiql"
ASSET_PATH = "/graphql/static"
"""Where the files are served, beside the endpoint (one path for a proxy to pass through)."""

ASSETS = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}
EXTERNAL = re.compile(r"""(?:src|href)=["'](https?://[^"']+)""")


CATALOG = '<a id="govgraph-catalog" href="/catalog" style="margin-left:auto">Catalog</a>'
"""The catalog browser (``govgraph.http.pages``): a plain link, it asks for a token itself."""
BAR = f"""
    <div id="govgraph-bar" style="display:flex;gap:12px;align-items:center;padding:6px 12px;height:41px;
         box-sizing:border-box;font:14px system-ui,sans-serif;border-bottom:1px solid #ddd">
      <strong>govgraph</strong>
      {CATALOG}
    </div>
"""
"""Above GraphiQL where there is no role picker (which carries the same link)."""

PICKER = """
    <div id="govgraph-bar" style="display:flex;gap:12px;align-items:center;padding:6px 12px;
         font:14px system-ui,sans-serif;border-bottom:1px solid #ddd">
      <strong>govgraph</strong>
      <label>Demo token
        <select id="govgraph-role"></select>
      </label>
      <span style="color:#666">development only: tokens signed with the demo secret</span>
      __CATALOG__
    </div>
    <script>
      window.GOVGRAPH = __GOVGRAPH__;
      window.addEventListener("DOMContentLoaded", function () {
        const select = document.getElementById("govgraph-role");
        window.GOVGRAPH.choices.forEach(function (choice, index) {
          const option = document.createElement("option");
          option.value = String(index);
          option.textContent = choice.label;
          select.appendChild(option);
        });
        select.addEventListener("change", function () {
          const choice = window.GOVGRAPH.choices[Number(select.value)];
          if (window.govgraphSetHeaders) window.govgraphSetHeaders(choice.headers);
        });
      });
    </script>
"""


def offline_graphiql_html(development: dict[str, object] | None = None) -> str:
    """The GraphiQL page with every asset pointed at govgraph's own copy; with ``development``
    (``{"choices": [...], "tabs": [...]}``), the role picker and the example tabs."""
    html = get_graphql_ide_html(graphql_ide="graphiql")
    if development is not None:
        data = json.dumps(development).replace("</", "<\\/")
        html = html.replace(
            "<body>", "<body>" + PICKER.replace("__GOVGRAPH__", data).replace("__CATALOG__", CATALOG), 1
        )
        html = html.replace(
            "function onEditHeaders(newHeaders) {",
            "window.govgraphSetHeaders = setHeaders;\n        function onEditHeaders(newHeaders) {",
            1,
        )
        html = html.replace(
            "parameters.q || EXAMPLE_QUERY", "parameters.q || window.GOVGRAPH.tabs[0].query", 1
        )
        html = html.replace(
            "React.useState(parameters.headers)",
            "React.useState(parameters.headers || window.GOVGRAPH.tabs[0].headers)",
            1,
        )
        html = html.replace(
            "fetcher: fetcher,",
            "fetcher: fetcher,\n          defaultTabs: window.GOVGRAPH.tabs,",
            1,
        )
    else:
        html = html.replace("<body>", "<body>" + BAR, 1)
    html = html.replace(
        '<div id="graphiql" class="graphiql-container">',
        '<div id="graphiql" class="graphiql-container" style="height:calc(100vh - 41px)">',
        1,
    )
    for remote, local in ASSETS.items():
        html = html.replace(remote, f"{ASSET_PATH}/{local}")
    # Same-origin now: the CORS mode the CDN needed would only cost a preflight-free fetch its credentials.
    html = html.replace("crossorigin\n", "\n")
    left = EXTERNAL.findall(html)
    if left:
        raise RuntimeError(f"the GraphiQL page still names external assets: {', '.join(left)}")
    missing = [name for name in ASSETS.values() if not (STATIC / name).is_file()]
    if missing:
        raise RuntimeError(f"GraphiQL assets missing from the package: {', '.join(missing)}")
    return html
