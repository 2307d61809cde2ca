"""The token payload docs/tokens.md shows is one govgraph accepts, signed as a production identity provider would."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from govgraph.auth.tokens import TokenVerifier

DOC = Path(__file__).parents[2] / "docs" / "tokens.md"


def test_the_documented_payload_verifies_into_its_principal() -> None:
    payload = json.loads(re.search(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1))  # type: ignore[union-attr]
    now = int(time.time())
    payload.update(iat=now, nbf=now, exp=now + 600)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = jwt.encode(payload, key, algorithm="RS256")
    verifier = TokenVerifier(
        algorithms=("RS256",), public_key=public, issuer=payload["iss"], audience=payload["aud"]
    )
    principal = verifier.verify(token)
    assert (principal.subject, principal.roles, principal.department, principal.purpose) == (
        "clerk-0042",
        ("window_clerk",),
        "government_service_center",
        "housing-subsidy",
    )
