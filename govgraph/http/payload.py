"""A GraphQL-over-HTTP request's parameters, parsed and checked before GraphQL sees them.

Bad JSON of any shape is refused here with a clear ``400``: text that is not
JSON, nesting deeper than ``MAX_JSON_DEPTH``, strings that are not valid
Unicode (lone surrogates), and parameters of the wrong type (``query`` and
``operationName`` must be strings, ``variables`` and ``extensions`` objects).
Nothing below then has to survive such input: not the parser, not the audit
hash, not the response encoder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_JSON_DEPTH = 32


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_json(text: bytes | str, what: str) -> Any:
    plain = _plainly_within_limits(text)
    try:
        value = json.loads(plain if plain is not None else text)
    except RecursionError:
        raise BadRequest(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:
        raise BadRequest(f"{what} is not valid JSON") from None
    if plain is None:
        check_json(value, what)
    return value


def _plainly_within_limits(text: bytes | str) -> str | None:
    """The text, when it cannot break a limit whatever it parses to, else ``None`` (walk the value).

    Strict UTF-8 with no ``\\u`` escape cannot spell a lone surrogate, and fewer brackets than the depth
    limit cannot nest deeper than it: the common request, a document and plain variables, skips the walk."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        else:
            text.encode("utf-8")
    except UnicodeError:
        return None  # json.loads may still read it (UTF-16, say): the walk decides
    if text.startswith("\ufeff") or "\\u" in text or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        return None  # a byte-order mark is json.loads's to strip from bytes
    return text


def check_json(value: Any, what: str) -> None:
    """Depth and Unicode, walked without recursion so that no input can exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, what)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


def check_parameters(parameters: Mapping[str, Any]) -> None:
    for name in ("query", "operationName"):
        value = parameters.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
    for name in ("variables", "extensions"):
        value = parameters.get(name)
        if value is not None and not isinstance(value, dict):
            raise BadRequest(f"{name} must be a JSON object")


def parse_body(body: bytes) -> Any:
    """The request body: a JSON object of GraphQL parameters (a list is passed on; batches are refused later)."""
    payload = parse_json(body, "the request body")
    if isinstance(payload, dict):
        check_parameters(payload)
    elif not isinstance(payload, list):
        raise BadRequest('the request body must be a JSON object such as {"query": "..."}')
    return payload


def parse_query_string(parameters: Mapping[str, str]) -> dict[str, Any]:
    """GET parameters, with ``variables`` and ``extensions`` decoded from JSON."""
    decoded: dict[str, Any] = {}
    for name, value in parameters.items():
        _check_text(value, f"the {name} parameter")
        if name in ("variables", "extensions") and value:
            decoded[name] = parse_json(value, f"the {name} parameter")
        else:
            decoded[name] = value
    check_parameters(decoded)
    return decoded


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} holds a string that is not valid Unicode (a lone surrogate)") from None
