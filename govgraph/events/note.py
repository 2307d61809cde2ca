"""What a delivery adds to the query that resolves it: which subscription, and what it was told.

The endpoint finds it in the request's state under ``DELIVERY``: it then
bypasses the cache, always builds the audit record (naming the
subscription, the changed record and the fields notified) and commits it
before release, and marks ``DELIVERY_RECORDED`` once it is committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DELIVERY = "govgraph_delivery"
DELIVERY_RECORDED = "govgraph_delivery_recorded"


@dataclass(frozen=True, slots=True)
class DeliveryNote:
    subscription: str
    """``sub_...`` for a webhook; ``live_...`` for a WebSocket or SSE subscriber."""
    entity: str
    department: str
    key: str
    notified: Mapping[str, str]
    """Coordinate of each changed field told → the subscriber's decision for it."""
