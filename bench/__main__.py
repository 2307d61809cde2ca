"""``make bench``: every scenario against the bench city, one table, and ``bench/results/latest.json``.

``python -m bench [module ...]`` runs only the named modules (``lists``,
``departments``, ``auth_overhead``, ``cache``, ``throughput``,
``audit_commit``, ``limits``, ``events``).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
from typing import Any

from bench.city import open_city
from bench.results import Result, table, write

MODULES = ("lists", "departments", "auth_overhead", "cache", "throughput", "audit_commit", "limits", "events")


async def main(selected: list[str]) -> int:
    unknown = sorted(set(selected) - set(MODULES))
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    city = await open_city()
    print(f"bench city: {city.scale} persons on {city.backend}", flush=True)
    modules = {
        name: importlib.import_module(f"bench.{name}") for name in MODULES if not selected or name in selected
    }
    # What is loaded by now lives as long as the run: out of the collector's way, so that the full
    # collection before each timed sample (``common.timed``) takes a millisecond, not 40, and leaves the
    # server under test neither idle nor with its caches thrashed by this process walking its heap.
    gc.collect()
    gc.freeze()
    results: list[Result] = []
    try:
        for name, module in modules.items():
            print(f"running {name} ...", flush=True)
            results += await module.run(city)
    finally:
        await city.close()
    print()
    print(table(results, city.backend))
    write(results, city.backend, merge=bool(selected))
    print("\nwritten to bench/results/latest.json")
    return 0


def event_loop_runner() -> Any:
    """The loop ``govgraph serve`` runs on (uvicorn picks uvloop where it is installed), so that scenarios
    run in this process, the floors among them, meet the same loop as the served ones."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


if __name__ == "__main__":
    sys.exit(event_loop_runner()(main(sys.argv[1:])))
