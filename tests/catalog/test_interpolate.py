from __future__ import annotations

import pytest

from govgraph.catalog.interpolate import MissingVariable, interpolate


def test_plain_default_and_alternative() -> None:
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET}", env) == "value"
    assert interpolate("${UNSET:-fallback}", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", env) == "fallback"
    assert interpolate("${SET:+alt}", env) == "alt"
    assert interpolate("${UNSET:+alt}", env) == ""


def test_nested_defaults_resolve_innermost_first() -> None:
    text = "${URL:-sqlite:///${DIR:-var/demo}/x.db}"
    assert interpolate(text, {}) == "sqlite:///var/demo/x.db"
    assert interpolate(text, {"DIR": "/srv"}) == "sqlite:////srv/x.db"
    assert interpolate(text, {"URL": "pg://h/db"}) == "pg://h/db"


def test_missing_variable_names_it() -> None:
    with pytest.raises(MissingVariable, match="NEEDED"):
        interpolate("${NEEDED}", {})
