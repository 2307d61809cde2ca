"""Standard Webhooks signatures (https://www.standardwebhooks.com/): how a receiver knows a delivery is ours.

A delivery carries three headers: ``webhook-id`` (the same on every attempt,
so a receiver drops duplicates), ``webhook-timestamp`` (Unix seconds of this
attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}``, keyed by the secret's base64-decoded bytes. Any
Standard Webhooks library verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
SECRET_BYTES = 32
TOLERANCE = 300
"""Seconds a receiver accepts between a delivery's timestamp and its own clock, either way."""


class SignatureError(ValueError):
    """A delivery's signature headers are missing, stale or do not match its body."""


def new_secret() -> str:
    """A fresh secret: ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not a Standard Webhooks secret: whsec_ and base64") from None
    if not key:
        raise ValueError("the secret is empty")
    return key


def check_secret(secret: str) -> None:
    """Raise ``ValueError`` unless ``secret`` is ``whsec_`` and the base64 of some bytes."""
    _key(secret)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``f"{msg_id}.{timestamp}."`` followed by ``body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The three headers of one attempt to deliver ``body``; ``now`` is Unix time (default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``headers`` sign ``body`` with ``secret`` within ``tolerance`` seconds."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not lowered.get(name):
            raise SignatureError(f"the {name} header is missing")
    try:
        timestamp = int(lowered["webhook-timestamp"])
    except ValueError:
        raise SignatureError("the webhook-timestamp header is not a Unix time in seconds") from None
    skew = (time.time() if now is None else now) - timestamp
    if abs(skew) > tolerance:
        which = "old" if skew > 0 else "far in the future"
        raise SignatureError(
            f"the webhook-timestamp is too {which}: {abs(skew):.0f}s against {tolerance:.0f}s allowed"
        )
    expected = sign(secret, lowered["webhook-id"], timestamp, body).encode()
    # Several space-separated signatures may be sent while a secret is rotated; one matching is enough.
    for candidate in lowered["webhook-signature"].split():
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise SignatureError("no signature in webhook-signature matches the body")
