from __future__ import annotations

import dataclasses

from govgraph.audit.records import (
    GENESIS_HASH,
    AuditRecord,
    EntityAccess,
    FieldDecision,
    canonical_content,
    chain_hash,
    content_hash,
    document_hash,
)


def record(**changes: object) -> AuditRecord:
    base = AuditRecord(
        request_id="r1",
        occurred_at="2026-11-24T15:06:12.000001Z",
        subject="clerk-1",
        department="government_service_center",
        roles=("window_clerk",),
        purpose="housing-subsidy",
        operation_name="Check",
        document_hash="d" * 64,
        client_address="127.0.0.1",
        entities=(EntityAccess("Person", "taxation", ("110101199003071233",)),),
        fields=(FieldDecision("Person.annualIncome", "taxation", "sensitive", "verify"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_canonical_content_is_stable_and_sorted() -> None:
    assert canonical_content(record()) == canonical_content(record())
    assert canonical_content(record()).startswith(b'{"client_address":"127.0.0.1"')


def test_any_change_changes_the_content_hash() -> None:
    original = content_hash(record())
    assert content_hash(record(purpose="tax-audit")) != original
    assert content_hash(record(entities=())) != original
    assert (
        content_hash(record(fields=(FieldDecision("Person.annualIncome", "taxation", "sensitive", "read"),)))
        != original
    )


def test_chain_hash_binds_predecessor_and_position() -> None:
    first = chain_hash(GENESIS_HASH, content_hash(record()), 1)
    assert chain_hash(GENESIS_HASH, content_hash(record()), 2) != first
    assert chain_hash(first, content_hash(record()), 2) != chain_hash(GENESIS_HASH, content_hash(record()), 2)


def test_sensitive_means_conditional_or_sensitive_data_released() -> None:
    assert record().sensitive
    assert not record(
        fields=(FieldDecision("Person.annualIncome", "taxation", "sensitive", "deny"),)
    ).sensitive
    assert not record(fields=(FieldDecision("Person.name", "public_security", "internal", "read"),)).sensitive


def test_document_hash_covers_variables() -> None:
    assert document_hash("{ a }", {"x": 1}) != document_hash("{ a }", {"x": 2})
    assert document_hash("{ a }", {"x": 1, "y": 2}) == document_hash("{ a }", {"y": 2, "x": 1})
