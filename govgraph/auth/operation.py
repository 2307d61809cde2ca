"""Authorization planned once per operation, over the operation as it will execute.

``plan_operation`` reads the operation through ``FieldCollection`` (the same
field collection the executor uses: coerced variables with their defaults,
``@include``/``@skip`` evaluated, fragments on abstract types matched), decides
every field coordinate once for this principal and purpose, and returns the
rules the executor applies as it reaches each field:

- **deny**: the field is never resolved; ``null`` plus ``FORBIDDEN`` at its
  path. The entity loader leaves its columns out, so its department is not
  queried for it.
- **protect**: an allowed conditional or sensitive value. The executor notes
  the path of every such value it produces, so all of them can be withheld
  when the audit record cannot be committed.
- **mask**: the transform the loader applies to the raw value.

Nothing here depends on a response key or an injected field: a client
choosing any alias, fragment or directive reaches the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from govgraph.auth.coordinates import Requirement
from govgraph.auth.decisions import Access, Authorizer, Decision
from govgraph.auth.masks import MASKS
from govgraph.auth.principal import Principal
from govgraph.errors import Forbidden
from govgraph.operation.collection import FieldCollection, SelectedField

SERVICE_FIELD = ("Query", "_service")
ENTITIES_FIELD = ("Query", "_entities")
PROTECTED = ("conditional", "sensitive")


@dataclass(slots=True)
class FieldRule:
    """What the executor does when it reaches one (type, field)."""

    coordinate: str
    denial: Forbidden | None = None
    protected: bool = False
    question_denials: dict[int, Forbidden] = field(default_factory=dict)
    """id(field node) → why that yes/no question is refused (beyond the per-operation limit)."""
    protected_items: frozenset[int] = frozenset()
    """For ``_entities``: the items whose lookup itself is conditional (their key is not internal)."""

    def denial_for(self, node: Any) -> Forbidden | None:
        if self.denial is not None:
            return self.denial
        return self.question_denials.get(id(node)) if self.question_denials else None


@dataclass
class OperationPlan:
    rules: dict[tuple[str, str], FieldRule] = field(default_factory=dict)
    """(GraphQL type, field name) → its rule; fields with no rule need nothing."""
    transforms: dict[str, Any] = field(default_factory=dict)
    """Coordinate → the mask applied to its raw value."""
    decisions: dict[str, Access] = field(default_factory=dict)
    """Every coordinate the operation asks for → what was decided, for the audit trail."""
    verify_only: frozenset[str] = frozenset()
    """Coordinates this principal may only ask yes/no questions about: their questions are budgeted."""

    def denies(self, type_name: str, field_name: str) -> bool:
        rule = self.rules.get((type_name, field_name))
        return rule is not None and rule.denial is not None


def plan_operation(
    collection: FieldCollection,
    principal: Principal,
    authorizer: Authorizer,
    requirements: Mapping[tuple[str, str], Requirement],
    *,
    sdl_open: bool = True,
) -> OperationPlan:
    """``sdl_open``: whether this caller may read ``_service { sdl }``."""
    plan = OperationPlan()
    catalog = authorizer.catalog
    questions: dict[str, dict[str, bool]] = {}
    verify_only: set[str] = set()

    def visit(selected: SelectedField) -> bool:
        """Decide one field; a denied field's selection is never reached, so nothing under it is decided."""
        rule_key = (selected.parent_type.name, selected.name)
        if rule_key == SERVICE_FIELD and not sdl_open:
            plan.rules[rule_key] = FieldRule(
                "Query._service",
                Forbidden("Query._service", "the federation SDL needs a token or the router credential"),
            )
            return False
        if rule_key == ENTITIES_FIELD:
            plan.rules[rule_key] = _entities_rule(collection, selected, principal, authorizer, plan.decisions)
            return True
        requirement = requirements.get(rule_key)
        if requirement is None:
            return True
        decision = authorizer.decide(principal, requirement.coordinate)
        allowed, reason = _allows(requirement, decision)
        rule = plan.rules.get(rule_key)
        if rule is None:
            rule = plan.rules[rule_key] = FieldRule(requirement.coordinate)
        if not allowed:
            rule.denial = Forbidden(_public_name(requirement, selected), reason or "denied")
            _record(plan.decisions, requirement, decision, allowed=False)
            return False
        if requirement.need == "verify" and decision.access == "verify":
            verify_only.add(requirement.coordinate)
            if not _question_allowed(questions, requirement.coordinate, collection, selected, authorizer):
                denial = Forbidden(
                    _public_name(requirement, selected),
                    f"at most {authorizer.max_verify_questions} different yes/no questions about "
                    f"{requirement.coordinate} in one operation",
                )
                for node in selected.nodes:
                    rule.question_denials[id(node)] = denial
                _record(plan.decisions, requirement, decision, allowed=False)
                return False
        classification = (
            "conditional"
            if requirement.need == "operation"
            else catalog.field(requirement.coordinate).classification
        )
        if classification != "public":
            # A lookup by key is itself an access: who asked whether this record exists.
            _record(plan.decisions, requirement, decision, allowed=True)
        if classification in PROTECTED:
            rule.protected = True
        if decision.access == "mask" and requirement.need == "value":
            mask = catalog.field(requirement.coordinate).mask
            if mask is not None:
                plan.transforms[requirement.coordinate] = MASKS[mask]
        return True

    collection.walk(visit)
    plan.verify_only = frozenset(verify_only)
    return plan


def _entities_rule(
    collection: FieldCollection,
    selected: SelectedField,
    principal: Principal,
    authorizer: Authorizer,
    decisions: dict[str, Access],
) -> FieldRule:
    """``_entities`` looks records up by key, as the root lookups do: each representation's lookup is
    recorded, and those whose key is conditional are protected item by item (the list itself is never
    null). A representation its principal may not look up fails by itself (``resolve_reference``)."""
    try:
        representations = collection.arguments(selected).get("representations") or []
    except GraphQLError:
        representations = []
    catalog = authorizer.catalog
    protected: set[int] = set()
    for index, representation in enumerate(representations):
        entity = (
            catalog.entities.get(representation.get("__typename"))
            if isinstance(representation, dict)
            else None
        )
        if entity is None:
            continue
        coordinate = f"{entity.name}.{entity.key_field}"
        classification = catalog.field(coordinate).classification
        decision = authorizer.decide(principal, coordinate)
        if not decision.allowed or classification == "public":
            continue
        _record(decisions, Requirement(coordinate, "key"), decision, allowed=True)
        if classification in PROTECTED:
            protected.add(index)
    return FieldRule("Query._entities", protected_items=frozenset(protected))


def question_signature(conditions: Mapping[str, Any]) -> str:
    """One yes/no question's identity: its conditions, whatever aliases or variables carried them."""
    given = {name: value for name, value in conditions.items() if value is not None}
    return json.dumps(given, sort_keys=True, ensure_ascii=True, default=str, separators=(",", ":"))


def _question_allowed(
    questions: dict[str, dict[str, bool]],
    coordinate: str,
    collection: FieldCollection,
    selected: SelectedField,
    authorizer: Authorizer,
) -> bool:
    """Asking the same question twice tells nothing new; each different one counts."""
    try:
        signature = question_signature(collection.arguments(selected))
    except GraphQLError:
        return True  # the field fails with its own error when it runs; it answers nothing
    asked = questions.setdefault(coordinate, {})
    if signature not in asked:
        asked[signature] = len(asked) < authorizer.max_verify_questions
    return asked[signature]


_OUTCOME_RANK = {"deny": 0, "verify": 1, "mask": 2, "read": 3}


def _record(
    decisions: dict[str, Access], requirement: Requirement, decision: Decision, *, allowed: bool
) -> None:
    """Keep the most revealing outcome per coordinate: what the audit trail must show."""
    if not allowed:
        outcome: Access = "deny"
    elif requirement.need == "verify":
        outcome = "verify"
    elif requirement.need == "band":
        outcome = "mask"
    else:
        outcome = decision.access
    previous = decisions.get(requirement.coordinate)
    if previous is None or _OUTCOME_RANK[outcome] > _OUTCOME_RANK[previous]:
        decisions[requirement.coordinate] = outcome


def _public_name(requirement: Requirement, selected: SelectedField) -> str:
    if requirement.need in ("band", "verify", "key"):
        return f"{selected.parent_type.name}.{selected.name}"
    return requirement.coordinate


def _allows(requirement: Requirement, decision: Decision) -> tuple[bool, str | None]:
    access = decision.access
    if access == "deny":
        return False, decision.reason
    need = requirement.need
    if need == "value":
        if access == "verify":
            return False, f"verify only: ask verify {{ {requirement.coordinate.partition('.')[2]}(...) }}"
        if access == "mask" and requirement.band_name is not None:
            return False, f"masked: ask {requirement.band_name}"
        return True, None
    if need == "band" and access == "verify":
        return False, "verify only: the band is a masked view and needs a mask or read grant"
    if need == "verify" and access == "mask":
        return False, "masked view only: verify not granted"
    return True, None
