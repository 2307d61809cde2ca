"""SQL identifiers in generated DDL: checked, then quoted."""

from __future__ import annotations

import re

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quoted(name: str) -> str:
    """``"name"``; anything but lower-case letters, digits and underscores is refused."""
    if not SQL_IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier (lower-case letters, digits, underscores)")
    return f'"{name}"'


def literal(name: str) -> str:
    """``'name'``: a checked identifier as a string literal (entity names may be capitalised)."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError(f"{name!r} cannot be written as a literal in generated DDL")
    return f"'{name}'"
