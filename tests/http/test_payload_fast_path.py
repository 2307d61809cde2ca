"""The request parser's shortcut (no walk for plainly small, plainly valid text) agrees with the full walk,
down to the type of every number."""

from __future__ import annotations

import json
import random

from govgraph.http.payload import MAX_JSON_DEPTH, BadRequest, _plainly_within_limits, check_json, parse_json


def reference(text: bytes | str) -> object:
    """What the parser did before the shortcut: json.loads, then the walk, always."""
    try:
        value = json.loads(text)
    except RecursionError:
        return ("refused", "nested")
    except ValueError:
        return ("refused", "json")
    try:
        check_json(value, "the body")
    except BadRequest as error:
        return ("refused", "nested" if "nested" in error.message else "unicode")
    return ("parsed", repr(value))  # repr: 1 and 1.0 are equal, but not the same answer


def ours(text: bytes | str) -> object:
    try:
        return ("parsed", repr(parse_json(text, "the body")))
    except BadRequest as error:
        kind = "nested" if "nested" in error.message else "unicode" if "Unicode" in error.message else "json"
        return ("refused", kind)


def corpus() -> list[bytes | str]:
    rng = random.Random(20261203)
    pieces = [
        '"a"',
        '"\\ud800"',
        '"\\udc00"',
        '"\\ud83d\\ude00"',
        '"\\u0041"',
        '"é"',
        "1",
        "12345678901234567890123",
        "NaN",
        "1e400",
        "-1e400",
        "Infinity",
        "-0",
        "-0.0",
        "0.1",
        "1.5e-10",
        "1E5",
        "2.2250738585072014e-308",
        "0.30000000000000004",
        "1.7976931348623157e308",
        "9223372036854775807",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "01",
        "1.",
        ".5",
        '{"a":1,"b":2,"a":3}',
        '"tab\\there"',
        '"raw\ttab"',
        " \t\r\n 7 ",
        '"quote \\" slash \\/ \\\\"',
        "null",
        "true",
        '"[{"',
        '"\\\\u"',
    ]
    texts: list[bytes | str] = []
    for _ in range(400):
        depth = rng.randint(0, MAX_JSON_DEPTH + 4)
        inner = ",".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        opener, closer = rng.choice([("[", "]"), ('{"k":', "}")])
        body = (opener * depth) + (inner if opener == "[" else (rng.choice(pieces))) + (closer * depth)
        if rng.random() < 0.1:
            body = body[:-1]  # truncated
        texts.append(body)
        texts.append(body.encode())
        if rng.random() < 0.2:
            texts.append(b"\xef\xbb\xbf" + body.encode())
            texts.append(body.encode("utf-16"))
            texts.append("\ufeff" + body)
    texts += [b'"\xed\xa0\x80"', "\ud800", '"\ud800"', b"\xff\xfe\x00", b"", ""]
    return texts


def test_the_shortcut_answers_as_the_walk_does() -> None:
    texts = corpus()
    disagreements = [text for text in texts if ours(text) != reference(text)]
    assert disagreements == []
    assert len(texts) > 800
    quick = [text for text in texts if _plainly_within_limits(text) is not None]
    assert len(quick) > 200, "the corpus reaches the shortcut often"
