"""Shared set-up for benchmarks: a demo city in a temporary directory and apps over it."""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from govgraph.demo import generate_sqlite


def demo_city(scale: int) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="govgraph-bench-"))
    generate_sqlite(directory, scale=scale, progress=False)
    return directory


async def timed(run: Callable[[], Awaitable[object]]) -> float:
    """Seconds for one run, after a full collection so one variant's garbage isn't billed to the next."""
    gc.collect()
    await asyncio.sleep(0)
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def side_by_side(
    runs: dict[str, Callable[[], Awaitable[object]]], rounds: int, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per run, interleaving the variants round by round so drift hits all alike."""
    for _ in range(warmup):
        for run in runs.values():
            await run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(await timed(run))
    return {name: statistics.median(values) for name, values in samples.items()}
