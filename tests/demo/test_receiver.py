"""``govgraph demo receiver``'s app: a forged delivery is refused, a repeated one printed once."""

from __future__ import annotations

import io

import orjson
from starlette.testclient import TestClient

from govgraph.demo.receiver import receiver_app
from govgraph.events.signing import headers, new_secret

BODY = orjson.dumps(
    {
        "type": "govgraph.change",
        "event": "evt_1_public_security_7",
        "data": {
            "changes": {
                "key": "110105196504123312",
                "changedFields": ["deceased"],
                "person": {"deceased": True},
            }
        },
    }
)


def test_a_signed_delivery_is_printed_once_and_a_forged_one_refused() -> None:
    secret, out = new_secret(), io.StringIO()
    client = TestClient(receiver_app(secret, out))
    signed = headers(secret, "evt_1_public_security_7", BODY)

    first = client.post("/hooks", content=BODY, headers=signed)
    again = client.post("/hooks", content=BODY, headers=signed)
    forged = client.post("/hooks", content=BODY, headers=headers(new_secret(), "evt_2", BODY))

    assert (first.status_code, again.status_code, forged.status_code) == (204, 204, 401)
    assert out.getvalue() == (
        'evt_1_public_security_7: 110105196504123312 changed deceased {"person":{"deceased":true}}\n'
    )
