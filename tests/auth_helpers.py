"""Real demo tokens for tests, signed as `govgraph token` signs them."""

from __future__ import annotations

from govgraph.auth.tokens import DEMO_SECRET, issue_token

ROLE_DEPARTMENTS = {
    "window_clerk": "government_service_center",
    "tax_officer": "taxation",
    "civil_affairs_officer": "civil_affairs",
    "pension_officer": "human_resources",
    "police_officer": "public_security",
    "auditor": "audit_office",
    "citizen": None,
}


def token(
    role: str, purpose: str | None = None, *, subject: str | None = None, department: str | None = "role"
) -> str:
    return issue_token(
        DEMO_SECRET,
        subject=subject or f"officer-{role}",
        roles=[role],
        department=ROLE_DEPARTMENTS[role] if department == "role" else department,
        purpose=purpose,
    )


def bearer(role: str, purpose: str | None = None, **options: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, purpose, **options)}"}  # type: ignore[arg-type]
