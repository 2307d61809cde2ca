"""``${VAR}``, ``${VAR:-default}`` and ``${VAR:+alternative}`` in catalog strings.

Innermost references are replaced first, so defaults may nest:
``${DEPT_URL:-sqlite+aiosqlite:///${GOVGRAPH_DEMO_DIR:-var/demo}/dept.db}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\+)([^${}]*))?\}")


class MissingVariable(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set and has no default")
        self.name = name


def interpolate(text: str, env: Mapping[str, str]) -> str:
    while True:
        replaced = _REFERENCE.sub(lambda match: _replace(match, env), text)
        if replaced == text:
            return replaced
        text = replaced


def _replace(match: re.Match[str], env: Mapping[str, str]) -> str:
    name, operator, word = match.group(1), match.group(2), match.group(3) or ""
    value = env.get(name, "")
    if operator == ":-":
        return value or word
    if operator == ":+":
        return word if value else ""
    if name not in env:
        raise MissingVariable(name)
    return value
