"""Decide one field coordinate for one principal and purpose.

    public       anyone
    internal     any authenticated government principal (one with a department;
                 a citizen's token has none)
    conditional  a grant of an effective role whose purposes include the request's
    sensitive    the same; a grant must say read to give the value, else mask or verify

A role is effective when the principal holds it and its department is the
principal's. The best applicable grant wins (read > mask > verify). No
applicable grant means deny, with a reason that names what is missing but
never a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from govgraph.auth.policy import Grant, Policy, Role
from govgraph.auth.principal import Principal
from govgraph.catalog.model import Catalog

Access = Literal["read", "mask", "verify", "deny"]
_RANK = {"read": 3, "mask": 2, "verify": 1}


@dataclass(frozen=True, slots=True)
class Decision:
    access: Access
    reason: str | None = None

    @property
    def allowed(self) -> bool:
        return self.access != "deny"


READ = Decision("read")


class Authorizer:
    """Decisions from the catalog and policy, memoized per (principal's access key, coordinate)."""

    def __init__(
        self,
        catalog: Catalog,
        policy: Policy,
        operations: frozenset[str] = frozenset(),
        max_verify_questions: int = 3,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.operations = operations
        self.max_verify_questions = max_verify_questions
        """Yes/no questions a verify-only role may ask about one field per operation: more would let
        a bisection of thresholds (lt: 100000, lt: 50000, ...) recover the value itself."""
        self._memo: dict[tuple[object, str], Decision] = {}

    def effective_roles(self, principal: Principal) -> list[Role]:
        roles = []
        for name in principal.roles:
            role = self.policy.roles.get(name)
            if role is not None and role.department == principal.department:
                roles.append(role)
        return roles

    def decide(self, principal: Principal, coordinate: str) -> Decision:
        memo_key = (principal.access_key, coordinate)
        decision = self._memo.get(memo_key)
        if decision is None:
            decision = self._decide(principal, coordinate)
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[memo_key] = decision
        return decision

    def _decide(self, principal: Principal, coordinate: str) -> Decision:
        if coordinate in self.operations:
            return self._granted(principal, coordinate)
        entity_name, _, field_name = coordinate.partition(".")
        entity = self.catalog.entities.get(entity_name)
        catalog_field = entity.fields.get(field_name) if entity else None
        if catalog_field is None:
            return Decision("deny", "not in the catalog")
        classification = catalog_field.classification
        if classification == "public":
            return READ
        if not principal.authenticated:
            return Decision("deny", "authentication required")
        if classification == "internal":
            if principal.department is None:
                return Decision("deny", "internal data is shared between government departments only")
            return READ
        return self._granted(principal, coordinate)

    def _granted(self, principal: Principal, coordinate: str) -> Decision:
        if not principal.authenticated:
            return Decision("deny", "authentication required")
        roles = self.effective_roles(principal)
        matching: list[Grant] = [
            grant for role in roles for grant in role.grants if coordinate in grant.coordinates
        ]
        if not matching:
            if not roles:
                claimed = ", ".join(principal.roles) or "none"
                return Decision(
                    "deny", f"no effective role: {claimed} not held in department {principal.department}"
                )
            return Decision("deny", f"no grant for role {', '.join(role.name for role in roles)}")
        applicable = [
            grant for grant in matching if grant.purposes is None or principal.purpose in grant.purposes
        ]
        if not applicable:
            if principal.purpose is None:
                return Decision("deny", "purpose required")
            return Decision("deny", f"purpose {principal.purpose} not granted")
        best = max(applicable, key=lambda grant: _RANK[grant.mode])
        return Decision(best.mode)
