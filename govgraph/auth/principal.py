"""Who is asking, from which department, in which roles, for what purpose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str | None
    department: str | None
    roles: tuple[str, ...]
    purpose: str | None
    authenticated: bool
    expires_at: float | None = field(default=None, compare=False)
    """Unix time the credential stops being good (a token's ``exp``, with leeway); ``None``: it does not.
    A request ends long before; a subscription is closed then."""

    @property
    def access_key(self) -> tuple[bool, str | None, tuple[str, ...], str | None]:
        """Everything a decision depends on; principals with equal keys get equal decisions."""
        return (self.authenticated, self.department, self.roles, self.purpose)

    def with_purpose(self, purpose: str | None) -> Principal:
        return Principal(
            self.subject, self.department, self.roles, purpose, self.authenticated, self.expires_at
        )


ANONYMOUS = Principal(subject=None, department=None, roles=(), purpose=None, authenticated=False)
