"""What ``_entities`` may be asked: each representation names an entity and carries a well-formed key.

Checked once per operation, before any field runs, so a malformed
representation is the client's ``BAD_USER_INPUT`` (saying which one and
why, never repeating the value), not an error deep in a resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govgraph.catalog.model import Catalog
from govgraph.errors import BadUserInput
from govgraph.identifiers import validate_credit_code, validate_id_number
from govgraph.operation.collection import FieldCollection

MAX_KEY_LENGTH = 200
KEY_CHECKS: dict[str, Callable[[str], str]] = {
    "IdNumber": validate_id_number,
    "CreditCode": validate_credit_code,
}


def check_representations(collection: FieldCollection, catalog: Catalog) -> BadUserInput | None:
    for field in collection.selected(collection.root_type, collection.root()):
        if field.name != "_entities" or field.definition is None:
            continue
        representations = collection.arguments(field).get("representations") or []
        for index, representation in enumerate(representations):
            problem = _problem(representation, catalog)
            if problem is not None:
                return BadUserInput(f"_entities representation {index}: {problem}")
    return None


def _problem(representation: Any, catalog: Catalog) -> str | None:
    names = ", ".join(sorted(catalog.entities))
    if not isinstance(representation, dict):
        return f"must be an object with __typename ({names}) and the entity's key"
    entity = catalog.entities.get(representation.get("__typename"))  # type: ignore[arg-type]
    if entity is None:
        return f"__typename must name an entity: {names}"
    key = representation.get(entity.key_field)
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        return f"a {entity.name} needs {entity.key_field} as a string of at most {MAX_KEY_LENGTH} characters"
    check = KEY_CHECKS.get(entity.key_type)
    if check is not None:
        try:
            check(key)
        except ValueError as error:
            return f"invalid {entity.key_type}: {error}"
    return None
