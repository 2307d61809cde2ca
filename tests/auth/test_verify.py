from __future__ import annotations

import datetime

import pytest

from govgraph.auth.verify import check, check_presence
from govgraph.errors import BadUserInput


def test_numeric_comparisons() -> None:
    assert check("Person.annualIncome", 54000, {"lt": 60000}) is True
    assert check("Person.annualIncome", 186000, {"lt": 60000}) is False
    assert check("Person.annualIncome", 60000, {"lte": 60000, "gt": 0}) is True
    assert check("Person.annualIncome", 0, {"gt": 0}) is False
    assert check("Person.annualIncome", 5, {"eq": 5, "ne": 6}) is True


def test_strings_dates_and_booleans() -> None:
    assert check("Person.maritalStatus", "married", {"oneOf": ["married", "widowed"]}) is True
    assert check("Person.birthDate", datetime.date(1990, 3, 7), {"lt": datetime.date(2000, 1, 1)}) is True
    assert check("Person.taxCompliant", True, {"eq": False}) is False


def test_no_value_is_unknown_and_no_condition_is_an_error() -> None:
    assert check("Person.annualIncome", None, {"lt": 1}) is None
    with pytest.raises(BadUserInput, match="at least one condition"):
        check("Person.annualIncome", 5, {"lt": None})


def test_presence() -> None:
    assert check_presence("Person.properties", 1, True, None) is True
    assert check_presence("Person.properties", 0, True, None) is False
    assert check_presence("Person.properties", 0, False, None) is True
    assert check_presence("Person.properties", 2, None, 2) is True
    with pytest.raises(BadUserInput):
        check_presence("Person.properties", 2, None, None)
