"""The SDL tells a router each field's classification: @authenticated on internal fields, and @requiresScopes
naming the roles granted a conditional or sensitive one, so a router can refuse before govgraph decides."""

from __future__ import annotations

import re

import httpx

from tests.auth_helpers import bearer
from tests.conftest import graphql

TAX = bearer("tax_officer", "tax-audit")


async def sdl_lines(client: httpx.AsyncClient) -> dict[tuple[str, str], str]:
    """(type, field) -> the field's SDL line."""
    body = await graphql(client, "{ _service { sdl } }", headers=TAX)
    lines: dict[tuple[str, str], str] = {}
    current = ""
    for line in body["data"]["_service"]["sdl"].splitlines():
        opened = re.match(r"^type (\w+)", line)
        if opened:
            current = opened.group(1)
        field = re.match(r"^\s+(\w+)(\(.*?\))?: ", line)
        if field and current:
            lines[(current, field.group(1))] = line.strip()
    return lines


async def test_each_classification_is_stated_for_a_router(client: httpx.AsyncClient) -> None:
    lines = await sdl_lines(client)
    assert "@authenticated" not in lines[("Enterprise", "name")], "public"
    assert lines[("Person", "name")].endswith("@authenticated"), "internal"
    assert lines[("Person", "annualIncome")].endswith(
        '@authenticated @requiresScopes(scopes: [["civil_affairs_officer"], ["tax_officer"], ["window_clerk"]])'
    ), "sensitive: every role with a read, mask or verify grant"
    assert lines[("Person", "annualIncomeBand")].endswith('@requiresScopes(scopes: [["tax_officer"]])'), (
        "the band needs a read or mask grant: the verify-only clerk is not named"
    )
    for (type_name, field_name), line in lines.items():
        if type_name in ("Person", "Enterprise", "Property", "Household") and "@requiresScopes" in line:
            assert "@authenticated" in line, (type_name, field_name)


async def test_the_sdl_imports_the_directives_it_uses(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ _service { sdl } }", headers=TAX)
    link = next(line for line in body["data"]["_service"]["sdl"].splitlines() if "@link" in line)
    assert '"@authenticated"' in link and '"@requiresScopes"' in link
