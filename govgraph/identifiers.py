"""Check-character arithmetic for the two national keys.

Pure functions: they decide whether a resident ID number (GB 11643-1999,
ISO 7064 MOD 11-2) or a unified social credit code (GB 32100-2015, MOD 31)
is well formed, and compute the check character for the generator.
Each ``validate_*`` raises ``ValueError`` with a message that says what is
wrong; the message never repeats the input.
"""

from __future__ import annotations

import datetime
import functools
import operator
import re

ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_NUMBER_CHECK_CHARS = "10X98765432"
_ID_NUMBER_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_VALUES = {char: value for value, char in enumerate(CREDIT_CODE_ALPHABET)}


def id_number_check_char(first17: str) -> str:
    total = sum(map(operator.mul, map(int, first17), ID_NUMBER_WEIGHTS))
    return ID_NUMBER_CHECK_CHARS[total % 11]


def validate_id_number(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("a resident ID number must be a string")
    return _valid_id_number(value)


@functools.lru_cache(maxsize=65_536)
def _valid_id_number(value: str) -> str:
    """Pure, so valid keys are remembered: lists of a thousand keys are validated on every request."""
    if len(value) != 18:
        raise ValueError(f"a resident ID number has 18 characters, got {len(value)}")
    if not _ID_NUMBER_SHAPE.match(value):
        raise ValueError("a resident ID number is 17 digits followed by a digit or 'X' (upper case)")
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValueError(
            "a resident ID number's characters 7-14 must be a valid birth date (YYYYMMDD)"
        ) from None
    if id_number_check_char(value[:17]) != value[17]:
        raise ValueError("a resident ID number's check character (ISO 7064 MOD 11-2) does not match")
    return value


def credit_code_check_char(first17: str) -> str:
    total = sum(
        _CREDIT_CODE_VALUES[char] * weight for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=False)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("a unified social credit code must be a string")
    if len(value) != 18:
        raise ValueError(f"a unified social credit code has 18 characters, got {len(value)}")
    if any(char not in _CREDIT_CODE_VALUES for char in value):
        raise ValueError(
            "a unified social credit code uses only 0-9 and upper-case A-Z without I, O, Z, S, V"
        )
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValueError("a unified social credit code's check character (MOD 31) does not match")
    return value
