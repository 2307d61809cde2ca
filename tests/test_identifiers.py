from __future__ import annotations

import pytest

from govgraph.identifiers import (
    credit_code_check_char,
    id_number_check_char,
    validate_credit_code,
    validate_id_number,
)


@pytest.mark.parametrize(
    "value", ["110101199003071233", "110101199208152467", "110105196504123312", "11010519491231002X"]
)
def test_valid_id_numbers(value: str) -> None:
    assert validate_id_number(value) == value
    assert id_number_check_char(value[:17]) == value[17]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("110101199003071234", "check character"),
        ("11010119900307123", "18 characters"),
        ("11010119900307123x", "upper case"),
        ("1101011990030712A3", "17 digits"),
        ("110101199002301233", "birth date"),
    ],
)
def test_invalid_id_numbers_say_why_without_echoing(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        validate_id_number(value)
    assert value not in str(caught.value)


@pytest.mark.parametrize("value", ["91110101MA01BXQ80Y", "91110105MA00GK2T0A"])
def test_valid_credit_codes(value: str) -> None:
    assert validate_credit_code(value) == value
    assert credit_code_check_char(value[:17]) == value[17]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91110101MA01BXQ80A", "check character"),
        ("91110101MA01BXQ80", "18 characters"),
        ("91110101MA01BXQ8OY", "without I, O, Z, S, V"),
        ("91110101ma01bxq80y", "upper-case"),
    ],
)
def test_invalid_credit_codes(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_credit_code(value)
