"""The key scalars: ``IdNumber`` and ``CreditCode``.

Input is checked for format and check character; a bad key becomes a
``BAD_USER_INPUT`` error saying what is wrong. Output is passed through,
because a masked key (``110101********1233``) is a string, not a key.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from govgraph.identifiers import validate_credit_code, validate_id_number

IdNumber = NewType("IdNumber", str)
CreditCode = NewType("CreditCode", str)


def _input_parser(scalar_name: str, validate: Callable[[str], str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        try:
            return validate(value)
        except ValueError as error:
            raise GraphQLError(
                f"Invalid {scalar_name}: {error}.", extensions={"code": "BAD_USER_INPUT"}
            ) from None

    return parse


SCALAR_MAP: dict[object, ScalarDefinition] = {
    IdNumber: strawberry.scalar(
        name="IdNumber",
        description=(
            "Resident ID number (公民身份号码): 6-digit area code, birth date YYYYMMDD, "
            "3-digit sequence and an ISO 7064 MOD 11-2 check character (0-9 or X)."
        ),
        serialize=str,
        parse_value=_input_parser("IdNumber", validate_id_number),
    ),
    CreditCode: strawberry.scalar(
        name="CreditCode",
        description=(
            "Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters of "
            "0-9 and A-Z without I, O, Z, S, V, ending in a MOD 31 check character."
        ),
        serialize=str,
        parse_value=_input_parser("CreditCode", validate_credit_code),
    ),
}

PYTHON_TYPES: dict[str, Any] = {
    "String": str,
    "Int": int,
    "Float": float,
    "Boolean": bool,
    "Date": datetime.date,
    "IdNumber": IdNumber,
    "CreditCode": CreditCode,
}
