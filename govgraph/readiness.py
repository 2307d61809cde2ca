"""What ``/readyz`` answers: each department and the audit store, ready or not, and why not.

From start-up every SQL department's database is checked against the
catalog (``sources/schema_check.py``), in the background so that no
department can hold start-up up, each within a bound; the reports are kept
and their problems logged. A department behind a service is checked when
``/readyz`` first asks, since its check is a request to it. Each
``/readyz`` probes every department and the audit store, each within
``GOVGRAPH_READINESS_TIMEOUT``:

- a department whose tables or columns do not match the catalog is
  ``misconfigured``, with its problems, until the process restarts once
  the catalog or the database is fixed;
- a department that does not answer, or whose check has not finished or
  could not, is ``unavailable`` and is checked again then, so a source that
  comes up later is checked before it counts as ready;
- the audit store is ``unavailable`` unless the chain's table answers a
  read (creating its tables if start-up could not).

Problems name the catalog file and key path, in the driver's words,
scrubbed of values and credentials (``diagnostics.describe``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from govgraph.audit.store import AuditStore
from govgraph.catalog.model import Catalog, Department
from govgraph.catalog.specs import SqlSourceSpec
from govgraph.errors import AuditStoreError, SourceUnavailable
from govgraph.settings import Settings
from govgraph.sources.base import Source
from govgraph.sources.schema_check import DepartmentReport, check_department, check_sources, unreachable

logger = logging.getLogger("govgraph.server")

Reports = MutableMapping[str, DepartmentReport]


def check_at_startup(
    catalog: Catalog, sources: Mapping[str, Source], settings: Settings, reports: Reports
) -> asyncio.Task[None]:
    """Check every SQL department in the background, into ``reports``, and log their problems; the caller
    cancels the task at shutdown."""

    async def check() -> None:
        checked = await check_sources(
            catalog,
            sources,
            timeout=settings.connect_timeout + settings.readiness_timeout,
            connect_timeout=settings.connect_timeout,
            departments=[
                department
                for department in catalog.departments.values()
                if isinstance(department.source, SqlSourceSpec)
            ],
        )
        for report in checked.values():
            if report.conclusive or report.department not in reports:
                reports[report.department] = report
            for problem in report.problems:
                if report.status == "misconfigured":
                    logger.error("source check: %s", problem)
                else:
                    logger.warning("source check: %s", problem)

    return asyncio.create_task(check(), name="govgraph-source-check")


async def readiness(
    catalog: Catalog,
    sources: Mapping[str, Source],
    reports: Reports,
    audit_store: AuditStore,
    settings: Settings,
) -> tuple[dict[str, Any], int]:
    """The body of ``/readyz`` and its status: 200 when every department and the audit store are ok."""
    timeout = settings.readiness_timeout
    audit, *answers = await asyncio.gather(
        _audit(audit_store, timeout),
        *(
            _department(catalog, department, sources[department.id], reports, settings)
            for department in catalog.departments.values()
        ),
    )
    departments = dict(zip(catalog.departments, answers, strict=True))
    ready = audit["status"] == "ok" and all(answer["status"] == "ok" for answer in departments.values())
    body = {"status": "ready" if ready else "unavailable", "departments": departments, "audit": audit}
    return body, 200 if ready else 503


async def _department(
    catalog: Catalog, department: Department, source: Source, reports: Reports, settings: Settings
) -> dict[str, Any]:
    known = reports.get(department.id)
    if known is not None and known.status == "misconfigured":
        return known.as_json()
    timeout = settings.readiness_timeout
    try:
        async with asyncio.timeout(timeout):
            failure = await _probe(department, source)
            if failure is None and known is not None and known.status == "ok":
                return known.as_json()
            if failure is not None and not isinstance(department.source, SqlSourceSpec):
                return failure.as_json()  # a service's check would only ask it again
            # Never checked, or a database not answering now: check it, for its problems in the driver's words.
            report = await check_department(
                catalog, department, source, connect_timeout=settings.connect_timeout
            )
    except TimeoutError:
        return unreachable(department, f"no answer within {timeout:g}s").as_json()
    if report.conclusive:
        reports[department.id] = report
    if report.status == "ok" and failure is not None:
        return failure.as_json()
    return report.as_json()


async def _probe(department: Department, source: Source) -> DepartmentReport | None:
    try:
        await source.check()
    except SourceUnavailable as error:
        return unreachable(department, error.reason)
    return None


async def _audit(store: AuditStore, timeout: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            await store.check()
    except AuditStoreError as error:
        return {"status": "unavailable", "problem": error.message}
    except TimeoutError:
        return {"status": "unavailable", "problem": f"audit store: no answer within {timeout:g}s"}
    return {"status": "ok"}
