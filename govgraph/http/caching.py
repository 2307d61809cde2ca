"""What a GraphQL response tells the caches between govgraph and its caller (``Cache-Control``).

A federation router's response or entity cache, a CDN or a browser would
otherwise serve one principal's view to another, and answer without govgraph
writing an audit record. So every response is ``private, no-store`` unless
it is proven to be the same for anyone: only public fields (nothing that an
audit record would hold), only entity root fields or ``_entities`` (not
``me``, the audit log, the schema), and no errors. Such a response may be
kept for as long as its oldest part stays fresh: ``public, max-age=N`` from
the freshness of its fields, or ``no-cache`` when a part was read live.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from govgraph.cache.freshness import Freshness

PRIVATE = "private, no-store"
LIVE_PUBLIC = "public, no-cache"


def cache_control(
    *,
    public_only: bool,
    errors: bool,
    root_fields: Collection[str],
    shareable_roots: Collection[str],
    freshness: Freshness,
    now: float,
) -> str:
    if (
        not public_only
        or errors
        or not root_fields
        or any(name not in shareable_roots for name in root_fields)
    ):
        return PRIVATE
    remaining = freshness.remaining(now)
    if remaining is None or remaining < 1:
        return LIVE_PUBLIC
    return f"public, max-age={remaining}"


def root_field_names(collection: Any) -> set[str]:
    """The schema's names of the operation's root fields, whatever the client aliased them to."""
    return {details[0].node.name.value for details in collection.root().values()}
