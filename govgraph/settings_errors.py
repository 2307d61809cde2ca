"""Settings mistakes, said in one sentence that names the ``GOVGRAPH_*`` variable and what it expects.

pydantic reports a bad environment variable as a multi-line ``ValidationError`` (or, for a list that is
not JSON, a ``SettingsError`` naming only the field); an operator needs the variable's name, what was
expected and never the value they typed back (it may be a secret or a URL with a password).
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from govgraph.settings import Settings

_FIELD = re.compile(r'field "(?P<field>\w+)"')


def variable(field: str) -> str:
    return f"GOVGRAPH_{field.upper()}"


def describe_settings_error(error: ValidationError | SettingsError) -> str:
    """One line: each problem as ``GOVGRAPH_NAME: expected ...``, or a rule's own message."""
    if isinstance(error, SettingsError):
        found = _FIELD.search(str(error))
        if found is None:
            return f"the settings could not be read: {error}"
        return f"{variable(found['field'])}: expected {_expectation(found['field'])}"
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        location = problem["loc"]
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not location:
            problems.append(message)
        else:
            field = str(location[0])
            problems.append(f"{variable(field)}: expected {_expectation(field)} ({_lower_first(message)})")
    return "; ".join(problems)


def _expectation(field: str) -> str:
    info = Settings.model_fields.get(field)
    if info is None:
        return "a valid value"
    return _describe_type(info.annotation)


def _describe_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    arguments = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(arguments) == 1:
        return _describe_type(arguments[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(annotation))
    if origin is tuple:
        return 'a JSON list of strings, such as ["https://portal.example.gov"]'
    simple: dict[Any, str] = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        Path: "a file or directory path",
        SecretStr: "a secret string",
        str: "a string",
    }
    return simple.get(annotation, "a valid value")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
