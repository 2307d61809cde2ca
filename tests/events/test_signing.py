"""Standard Webhooks signatures: the published test vector, and both directions against the reference library."""

from __future__ import annotations

import base64
import datetime

import pytest
import standardwebhooks

from govgraph.events.signing import SignatureError, headers, new_secret, sign, verify

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = 1_796_000_000.0
BODY = b'{"data":{"changes":{"key":"110101199003071233","changedFields":["deceased"]}}}'


def test_the_published_vector_is_reproduced_exactly() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    # The prefix is optional, as in the reference implementations.
    assert (
        sign(VECTOR_SECRET.removeprefix("whsec_"), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
        == VECTOR_SIGNATURE
    )


def test_a_new_secret_is_whsec_and_base64_of_enough_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) >= 24


def test_the_reference_library_verifies_what_govgraph_signs() -> None:
    secret = new_secret()
    sent = headers(secret, "evt_1", BODY)  # the clock's time: the library checks it against its own

    assert standardwebhooks.Webhook(secret).verify(BODY, sent) == {
        "data": {"changes": {"key": "110101199003071233", "changedFields": ["deceased"]}}
    }
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert sent["webhook-id"] == "evt_1"


def test_govgraph_verifies_what_the_reference_library_signs() -> None:
    secret = new_secret()
    moment = datetime.datetime.fromtimestamp(NOW, datetime.UTC)
    signature = standardwebhooks.Webhook(secret).sign("evt_2", moment, BODY.decode())
    received = {"Webhook-Id": "evt_2", "Webhook-Timestamp": str(int(NOW)), "Webhook-Signature": signature}

    verify(secret, received, BODY, now=NOW)


def test_one_matching_signature_of_several_is_enough_while_a_secret_rotates() -> None:
    old, new = new_secret(), new_secret()
    sent = headers(new, "evt_3", BODY, now=NOW)
    rotated = {
        **sent,
        "webhook-signature": f"{sign(old, 'evt_3', int(NOW), BODY)} {sent['webhook-signature']}",
    }

    verify(new, rotated, BODY, now=NOW)
    verify(old, rotated, BODY, now=NOW)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda sent, body: (sent, body + b" "), "no signature in webhook-signature matches"),
        (
            lambda sent, body: ({**sent, "webhook-id": "evt_other"}, body),
            "no signature in webhook-signature matches",
        ),
        (lambda sent, body: ({**sent, "webhook-signature": "v2,abc"}, body), "no signature"),
        (lambda sent, body: ({**sent, "webhook-timestamp": str(int(NOW) - 301)}, body), "too old"),
        (lambda sent, body: ({**sent, "webhook-timestamp": str(int(NOW) + 301)}, body), "future"),
        (lambda sent, body: ({**sent, "webhook-timestamp": "yesterday"}, body), "not a Unix time"),
        (
            lambda sent, body: ({k: v for k, v in sent.items() if k != "webhook-id"}, body),
            "webhook-id header is missing",
        ),
    ],
    ids=["body", "id", "version", "old", "future", "timestamp", "missing"],
)
def test_a_delivery_that_does_not_match_is_refused_saying_why(change, problem: str) -> None:  # type: ignore[no-untyped-def]
    secret = new_secret()
    sent, body = change(headers(secret, "evt_4", BODY, now=NOW), BODY)

    with pytest.raises(SignatureError, match=problem):
        verify(secret, sent, body, now=NOW)


def test_another_secret_does_not_verify() -> None:
    sent = headers(new_secret(), "evt_5", BODY, now=NOW)

    with pytest.raises(SignatureError, match="no signature"):
        verify(new_secret(), sent, BODY, now=NOW)


def test_a_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Standard Webhooks secret"):
        sign("whsec_not base64!", "evt_6", int(NOW), BODY)
