"""Server-rendered pages that work offline: ``/catalog`` (the catalog browser) and ``/usage`` (the
oversight dashboard).

Plain HTML with inline CSS and inline SVG: no build step, no script, no
external address, so they work on an intranet with no internet, in
development and production alike (where GraphiQL is off by default but
these stay, behind the same tokens as /graphql).

- ``layout``: the shared shell, escaping and response headers;
- ``viewer``: who is looking (the bearer token, or one posted in a form);
- ``gate``: a page's endpoint, and its 401/403/400 pages;
- ``access``: role × purpose × field decisions, from the authorizer;
- ``catalog``, ``usage``: the two pages; ``svg``: their charts.
"""

from govgraph.http.pages.catalog import catalog_page
from govgraph.http.pages.usage import usage_page

__all__ = ["catalog_page", "usage_page"]
