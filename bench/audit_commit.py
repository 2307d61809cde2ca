"""Group commit: records per second when concurrent requests share a transaction, against one commit each.

500 portal-sized records (three entities, twenty field decisions), handed in
by 64 concurrent callers: through ``AuditWriter`` (its committer takes every
record waiting into one transaction and one extension of the hash chain),
and straight to ``AuditStore.append`` one record per call (one transaction,
one chain lock each). Both on the bench city's store. Shown for information:
the target the issue sets is on the requests it serves (scenarios 4 and 6).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.city import City
from bench.results import Result, ratio
from govgraph.audit.records import AuditRecord, EntityAccess, FieldDecision
from govgraph.audit.store import AuditStore
from govgraph.audit.writer import AuditWriter

RECORDS = 500
CALLERS = 64


def portal_record(index: int) -> AuditRecord:
    person = f"1101011990{index:08d}"
    return AuditRecord(
        request_id=uuid.uuid4().hex,
        occurred_at="2026-12-02T08:00:00.000000Z",
        subject="bench-clerk",
        department="government_service_center",
        roles=("window_clerk",),
        purpose="housing-subsidy",
        operation_name="Portal",
        document_hash="0" * 64,
        client_address="127.0.0.1",
        entities=(
            EntityAccess("Person", "public_security", (person,)),
            EntityAccess("Person", "civil_affairs", (person,)),
            EntityAccess("Property", "natural_resources", (f"P{index}",)),
        ),
        fields=tuple(
            FieldDecision(f"Person.field{number}", "public_security", "conditional", "read")
            for number in range(20)
        ),
    )


async def _rate(commit, records: list[AuditRecord]) -> float:  # type: ignore[no-untyped-def]
    queue = list(records)

    async def caller() -> None:
        while queue:
            await commit(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return len(records) / (time.perf_counter() - start)


async def run(city: City) -> list[Result]:
    store = AuditStore(await city.audit_url("commit"))
    await store.open()
    writer = AuditWriter(store, city.scratch / "commit-journal.jsonl", timeout=60)
    await writer.start()
    try:
        await _rate(writer.commit, [portal_record(index) for index in range(50)])  # warm
        grouped = await _rate(writer.commit, [portal_record(index) for index in range(RECORDS)])
        commits_before = writer.commits

        async def one_each(record: AuditRecord) -> None:
            await store.append([record])

        single = await _rate(one_each, [portal_record(index) for index in range(RECORDS)])
        count, broken = await store.verify()
    finally:
        await writer.close()
        await store.close()
    assert broken is None, f"the chain broke at {broken}"
    return [
        Result(
            f"audit: records/s, group commit vs one commit per record, {CALLERS} callers",
            grouped,
            single,
            "rec/s",
            "one commit each",
            ratio(grouped, single),
            "-",
            f"{count} records in a valid chain; {commits_before} group commits in all for {RECORDS + 50} records",
        )
    ]
