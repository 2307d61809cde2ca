"""Load ``policy.yaml``: roles, their department and their grants.

A grant names field coordinates (``Person.annualIncome``, or ``Property.*``
for every field of an entity), an access mode (``read``, ``mask`` or
``verify``) and optionally the purposes it serves. Every problem stops
loading with a ``PolicyError`` naming the file and the entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govgraph.catalog.model import Catalog
from govgraph.catalog.specs import Text
from govgraph.errors import PolicyError

POLICY_FILE = "policy.yaml"
OPERATIONS = frozenset({"Query.auditLog", "Query.usage", "Query.myAccessLog"})
"""Root fields that read govgraph's own records, not department data; only a grant opens them."""
Mode = Literal["read", "mask", "verify"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GrantSpec(_Spec):
    fields: list[str] = Field(min_length=1)
    mode: Mode
    purposes: list[str] | None = Field(default=None, min_length=1)


class RoleSpec(_Spec):
    department: str | None
    description: Text | None = None
    cache_bypass: bool = False
    """May ask for live data with ``Cache-Control: no-cache`` or a max-age below the floor."""
    subscribe: bool = False
    """May register durable webhook subscriptions (``POST /subscriptions``); what they deliver is still
    decided by the grants."""
    grants: list[GrantSpec] = []


class EmbargoSpec(_Spec):
    purpose: str
    until: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    reason: Text | None = None


class PolicySpec(_Spec):
    purposes: dict[str, Text] = {}
    roles: dict[str, RoleSpec] = Field(min_length=1)
    embargoes: list[EmbargoSpec] = []


@dataclass(frozen=True, slots=True)
class Grant:
    coordinates: frozenset[str]
    mode: Mode
    purposes: frozenset[str] | None
    """``None``: the grant serves any purpose, or none."""


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    department: str | None
    description: Text | None
    grants: tuple[Grant, ...]
    cache_bypass: bool = False
    subscribe: bool = False


@dataclass(frozen=True, slots=True)
class Embargo:
    purpose: str
    until: str


@dataclass(frozen=True, slots=True)
class Policy:
    file: str
    purposes: dict[str, Text]
    roles: dict[str, Role]
    embargoes: tuple[Embargo, ...] = ()


def load_policy(
    path: str | os.PathLike[str], catalog: Catalog, operations: Iterable[str] = OPERATIONS
) -> Policy:
    """Load and validate a policy; ``operations`` are root-field coordinates grants may name (``Query.auditLog``)."""
    file = Path(path)
    if file.is_dir():
        file = file / POLICY_FILE
    name = file.name if file.parent == Path(catalog.directory) else str(file)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(name, "", "file not found") from None
    except yaml.YAMLError as error:
        raise PolicyError(name, "", f"invalid YAML: {getattr(error, 'problem', None) or error}") from None
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PolicyError(name, ".".join(str(part) for part in first["loc"]), first["msg"]) from None
    return _compile(name, spec, catalog, frozenset(operations))


def _compile(name: str, spec: PolicySpec, catalog: Catalog, operations: frozenset[str]) -> Policy:
    roles = {}
    for role_name, role in spec.roles.items():
        grants = []
        for index, grant in enumerate(role.grants):
            entry = f"roles.{role_name}.grants[{index}]"
            coordinates: set[str] = set()
            for position, coordinate in enumerate(grant.fields):
                coordinates |= _expand(
                    name, f"{entry}.fields[{position}]", coordinate, grant.mode, catalog, operations
                )
            for purpose in grant.purposes or ():
                if purpose not in spec.purposes:
                    raise PolicyError(
                        name, f"{entry}.purposes", f"unknown purpose {purpose}; declare it under purposes"
                    )
            purposes = frozenset(grant.purposes) if grant.purposes is not None else None
            grants.append(Grant(frozenset(coordinates), grant.mode, purposes))
        roles[role_name] = Role(
            role_name, role.department, role.description, tuple(grants), role.cache_bypass, role.subscribe
        )
    for index, embargo in enumerate(spec.embargoes):
        if embargo.purpose not in spec.purposes:
            raise PolicyError(name, f"embargoes[{index}].purpose", f"unknown purpose {embargo.purpose}")
    embargoes = tuple(Embargo(embargo.purpose, embargo.until) for embargo in spec.embargoes)
    return Policy(name, dict(spec.purposes), roles, embargoes)


def _expand(
    file: str, entry: str, coordinate: str, mode: Mode, catalog: Catalog, operations: frozenset[str]
) -> set[str]:
    if coordinate in operations:
        if mode != "read":
            raise PolicyError(file, entry, f"{coordinate} is an operation; only mode read applies")
        return {coordinate}
    entity_name, _, field_name = coordinate.partition(".")
    entity = catalog.entities.get(entity_name)
    if entity is None or not field_name:
        raise PolicyError(file, entry, f"unknown field {coordinate}")
    if field_name == "*":
        fields = list(entity.fields.values())
        if mode == "mask":
            fields = [catalog_field for catalog_field in fields if catalog_field.mask is not None]
        if mode == "verify":
            fields = [catalog_field for catalog_field in fields if catalog_field.comparable]
        return {catalog_field.coordinate for catalog_field in fields}
    catalog_field = entity.fields.get(field_name)
    if catalog_field is None:
        raise PolicyError(file, entry, f"unknown field {coordinate}")
    if mode == "verify" and not catalog_field.comparable:
        raise PolicyError(file, entry, f"{coordinate} cannot be compared, so it cannot be granted verify")
    if mode == "mask" and catalog_field.mask is None:
        raise PolicyError(
            file, entry, f"{coordinate} has no mask in the catalog, so it cannot be granted mask"
        )
    return {coordinate}
