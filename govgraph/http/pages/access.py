"""What each role may do with each field, for each purpose: asked of the authorizer, never worked out here.

For a role and a purpose, a stand-in principal holding just that role, in
the role's department, with that purpose, is put to ``Authorizer.decide``
for every coordinate: the answer is the one a real token like that gets
from /graphql, so a change to the decision rules shows here by itself.

The purposes shown for a role are those its grants name, plus "none
stated": what a request with no purpose, or with any purpose not listed,
gets (grants without purposes apply to every purpose, and the others to
none but their own).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from govgraph.auth.decisions import Authorizer, Decision
from govgraph.auth.policy import Role
from govgraph.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class RoleAccess:
    role: Role
    purposes: tuple[str | None, ...]
    """``None``: no purpose stated, or one the role's grants do not name."""
    rows: tuple[tuple[str, tuple[Decision, ...]], ...]
    """(coordinate, its decision for each of ``purposes``)."""


def stand_in(role: Role, purpose: str | None) -> Principal:
    """A principal holding ``role`` and nothing else, in the role's own department."""
    return Principal(
        subject=None, department=role.department, roles=(role.name,), purpose=purpose, authenticated=True
    )


def role_purposes(role: Role) -> tuple[str | None, ...]:
    named = sorted({purpose for grant in role.grants for purpose in grant.purposes or ()})
    return (*named, None)


def coordinates(authorizer: Authorizer) -> list[str]:
    """Every field of the catalog, then the operations only a grant opens (``Query.auditLog``, ...)."""
    return [catalog_field.coordinate for catalog_field in authorizer.catalog.fields()] + sorted(
        authorizer.operations
    )


def role_access(authorizer: Authorizer, role: Role, names: Sequence[str]) -> RoleAccess:
    purposes = role_purposes(role)
    principals = [stand_in(role, purpose) for purpose in purposes]
    rows = tuple(
        (coordinate, tuple(authorizer.decide(principal, coordinate) for principal in principals))
        for coordinate in names
    )
    return RoleAccess(role, purposes, rows)


def granting(authorizer: Authorizer, coordinate: str) -> Iterable[tuple[str, str | None]]:
    """(role, purpose) pairs the policy lets read ``coordinate``: for a hint of which token would do."""
    for role in authorizer.policy.roles.values():
        for purpose in role_purposes(role):
            if authorizer.decide(stand_in(role, purpose), coordinate).access == "read":
                yield role.name, purpose
