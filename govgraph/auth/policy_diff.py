"""``govgraph policy diff OLD NEW``: who gains or loses what, before a policy change is deployed.

Access is compared per (role, field coordinate, purpose): the modes a role
has there (``read`` covers ``mask``, which covers ``verify``), where a grant
with no purposes counts for every purpose. A change *widens* access when
the new policy gives some role, coordinate and purpose a mode the old one
did not cover, moves a role to another department, lets a role bypass the
cache, or lifts or shortens an embargo. The command exits 1 then, so it can
gate a deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from govgraph.auth.policy import Policy

RANK = {"verify": 1, "mask": 2, "read": 3}
ANY_PURPOSE = "(any purpose)"


@dataclass(frozen=True, order=True)
class Change:
    widens: bool
    role: str
    what: str
    """``Person.annualIncome for housing-subsidy: verify -> read``, ``department: taxation -> audit_office``."""

    @property
    def line(self) -> str:
        return f"{'+' if self.widens else '-'} {self.role}: {self.what}"


def access(policy: Policy) -> dict[tuple[str, str, str], set[str]]:
    """(role, coordinate, purpose) -> the modes granted there."""
    granted: dict[tuple[str, str, str], set[str]] = {}
    for role in policy.roles.values():
        for grant in role.grants:
            purposes = sorted(grant.purposes) if grant.purposes is not None else [ANY_PURPOSE]
            for coordinate in grant.coordinates:
                for purpose in purposes:
                    granted.setdefault((role.name, coordinate, purpose), set()).add(grant.mode)
    return granted


def _strongest(modes: set[str]) -> int:
    return max((RANK[mode] for mode in modes), default=0)


def _held(granted: dict[tuple[str, str, str], set[str]], role: str, coordinate: str, purpose: str) -> int:
    """What the role has there, counting grants for any purpose."""
    return max(
        _strongest(granted.get((role, coordinate, purpose), set())),
        _strongest(granted.get((role, coordinate, ANY_PURPOSE), set())),
    )


def diff(old: Policy, new: Policy) -> list[Change]:
    return sorted(_changes(old, new), key=lambda change: (change.role, change.what))


def _changes(old: Policy, new: Policy) -> Iterator[Change]:
    before, after = access(old), access(new)
    names = {rank: mode for mode, rank in RANK.items()} | {0: "none"}
    for role, coordinate, purpose in sorted(before.keys() | after.keys()):
        was, now = (
            _strongest(before.get((role, coordinate, purpose), set())),
            _strongest(after.get((role, coordinate, purpose), set())),
        )
        if was == now:
            continue
        widens = now > _held(before, role, coordinate, purpose)
        yield Change(widens, role, f"{coordinate} for {purpose}: {names[was]} -> {names[now]}")
    for name in sorted(old.roles.keys() | new.roles.keys()):
        was_role, now_role = old.roles.get(name), new.roles.get(name)
        if was_role is None or now_role is None:
            yield Change(now_role is not None, name, "role added" if now_role else "role removed")
            continue
        if was_role.department != now_role.department:
            yield Change(True, name, f"department: {was_role.department} -> {now_role.department}")
        if was_role.cache_bypass != now_role.cache_bypass:
            yield Change(
                now_role.cache_bypass,
                name,
                f"cache_bypass: {was_role.cache_bypass} -> {now_role.cache_bypass}",
            )
    old_embargoes = {embargo.purpose: embargo.until for embargo in old.embargoes}
    new_embargoes = {embargo.purpose: embargo.until for embargo in new.embargoes}
    for purpose in sorted(old_embargoes.keys() | new_embargoes.keys()):
        was_until, now_until = old_embargoes.get(purpose), new_embargoes.get(purpose)
        if was_until == now_until:
            continue
        lifted = now_until is None or (was_until is not None and now_until < was_until)
        yield Change(
            lifted, "citizen", f"embargo on {purpose}: {was_until or 'none'} -> {now_until or 'none'}"
        )
