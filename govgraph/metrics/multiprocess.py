"""Prometheus multiprocess mode: every worker writes its samples to files in one directory, and a scrape
of any worker reads them all.

prometheus_client chooses where samples live when it is first imported, from
``PROMETHEUS_MULTIPROC_DIR``; so ``govgraph serve --workers N`` sets it before
the workers start (they import it afresh), in a temporary directory of its own
unless the operator named one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> str | None:
    return os.environ.get(VARIABLE) or None


def scrape_registry(own: CollectorRegistry) -> CollectorRegistry:
    """The registry a scrape reads: all workers' files in multiprocess mode, else the app's own."""
    path = directory()
    if path is None:
        return own
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


@contextlib.contextmanager
def shared_directory(workers: int) -> Iterator[str | None]:
    """For ``govgraph serve``: the operator's directory, emptied of an earlier run's files; or, for more
    than one worker, a fresh temporary one, removed at exit; or none (one worker: the app's own registry)."""
    given = directory()
    if given is not None:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
        yield given
        return
    if workers <= 1:
        yield None
        return
    path = tempfile.mkdtemp(prefix="govgraph-metrics-")
    os.environ[VARIABLE] = path
    try:
        yield path
    finally:
        os.environ.pop(VARIABLE, None)
        shutil.rmtree(path, ignore_errors=True)


def process_gone(pid: int | None) -> None:
    """Drop a finished worker's live gauges (the circuit states), so a scrape no longer reports them."""
    path = directory()
    if path is not None and pid is not None:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, path)
