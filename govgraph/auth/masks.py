"""Mask functions: a partial value instead of the value.

Pure functions, chosen per field by the catalog's ``mask`` and applied per
request after fetching, never in a source or the cache.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

_DISTRICT = re.compile(r"^(.+?(?:省|自治区))?(.+?(?:市|自治州|地区|盟))?(.+?(?:区|县|旗|市))")
AMOUNT_BANDS = (0, 10_000, 30_000, 60_000, 100_000, 200_000, 500_000, 1_000_000, 5_000_000)


def mask_id_number(value: str) -> str:
    """Keep the first 6 (area code) and last 4 characters."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str) -> str:
    """Keep the surname (the first character; two for common compound surnames)."""
    if not value:
        return value
    surname_length = 2 if value[:2] in COMPOUND_SURNAMES and len(value) > 2 else 1
    return value[:surname_length] + "*" * (len(value) - surname_length)


def mask_address(value: str) -> str:
    """Cut an address to its district: 北京市东城区景山前街4号 → 北京市东城区."""
    match = _DISTRICT.match(value)
    if match is None:
        return "*" * min(len(value), 6)
    return match.group(0)


def mask_amount_band(value: float) -> str:
    """An amount as a band: 186000 → '100000-200000'; the top band is open: '5000000+'."""
    if value < 0:
        return "<0"
    for lower, upper in itertools.pairwise(AMOUNT_BANDS):
        if value < upper:
            return f"{lower}-{upper}"
    return f"{AMOUNT_BANDS[-1]}+"


COMPOUND_SURNAMES = frozenset(
    {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙"}
)

MASKS: dict[str, Callable[[Any], str]] = {
    "id_number": mask_id_number,
    "name": mask_name,
    "address": mask_address,
    "amount_band": mask_amount_band,
}
