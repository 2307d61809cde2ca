"""``describe(error)``: a driver's own words about a failure, fit for a log line or /readyz.

``type(error).__name__`` alone (``OperationalError``) tells an operator
nothing; the driver's message (``no such column: birth_dt``, ``database
"govgraph_audit" does not exist``) says what to fix. What it may carry
besides is dropped: the statement and its parameters SQLAlchemy appends,
PostgreSQL's ``DETAIL`` lines and quoted input values (which hold field
values), credentials in URLs and ``password=...``. The result is one line
of bounded length.
"""

from __future__ import annotations

import re

LIMIT = 300

_SQLALCHEMY_TAILS = ("[SQL:", "[parameters:", "(Background on this error")
_WRAPPER_PREFIX = re.compile(r"^\((?:[\w.]+)\)\s*")
"""SQLAlchemy's ``(sqlite3.OperationalError) `` before the driver's message."""
_ADAPTED_PREFIX = re.compile(r"^<class '[\w.]+'>:\s*")
"""SQLAlchemy's asyncpg adapter: ``<class 'asyncpg.exceptions.UndefinedColumnError'>: ``."""
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@'\"]*@")
_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*(?:'[^']*'|\"[^\"]*\"|[^\s&;,)]+)")
_ARGUMENT_VALUE = re.compile(r"(invalid input for query argument \$\d+): .*?(?= \([^()]*\)$|$)")
"""asyncpg, refusing a parameter: ``invalid input for query argument $1: 'the value' (why)``."""
_OUT_OF_RANGE = re.compile(r'\bvalue ".*?" is out of range')
_TRAILING_VALUE = re.compile(r': ".*"$')
"""PostgreSQL quotes the offending input last: ``invalid input syntax for type integer: "abc"``."""


def describe(error: BaseException, limit: int = LIMIT) -> str:
    """The driver's message of ``error`` (``error.orig`` for SQLAlchemy's wrappers), scrubbed, on one line."""
    cause = getattr(error, "orig", None) or error
    text = str(cause)
    for tail in _SQLALCHEMY_TAILS:
        text = text.split(tail, 1)[0]
    lines = []
    for line in text.splitlines():
        line = _ADAPTED_PREFIX.sub("", _WRAPPER_PREFIX.sub("", line.strip()))
        if not line or line.startswith("DETAIL:"):
            continue
        line = _ARGUMENT_VALUE.sub(r"\1", line)
        line = _OUT_OF_RANGE.sub("value is out of range", line)
        lines.append(_TRAILING_VALUE.sub("", line))
    described = "; ".join(lines)
    described = _PASSWORD.sub(r"\1=[redacted]", _URL_CREDENTIALS.sub(r"\1[redacted]@", described))
    if not described:
        described = "timed out" if isinstance(cause, TimeoutError) else type(cause).__name__
    return described if len(described) <= limit else described[: limit - 1] + "…"
