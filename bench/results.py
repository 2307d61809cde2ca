"""One line per measured scenario: govgraph's figure, the reference's from the same run, the ratio, the target."""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "latest.json"


@dataclass(frozen=True)
class Result:
    scenario: str
    govgraph: float
    reference: float
    unit: str
    """What ``govgraph`` and ``reference`` are in: ``ms``, ``req/s``, ``queries``."""
    reference_is: str
    """What the reference is: the floor, the same query on one department, ..."""
    ratio: float
    target: str
    """``<= 3``, ``>= 1``, ``== 1``, or ``-`` for a figure shown for information."""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target == "-" or math.isnan(self.ratio):
            return None
        operator, bound = self.target.split()
        limit = float(bound)
        return {"<=": self.ratio <= limit, ">=": self.ratio >= limit, "==": math.isclose(self.ratio, limit)}[
            operator
        ]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def table(results: Sequence[Result], backend: str) -> str:
    header = ("scenario", "govgraph", "reference", "ratio", "target", "met")
    rows = [
        (
            item.scenario,
            _figure(item.govgraph, item.unit),
            f"{_figure(item.reference, item.unit)} ({item.reference_is})",
            f"{item.ratio:.2f}",
            item.target,
            {True: "yes", False: "NO", None: "-"}[item.met],
        )
        for item in results
    ]
    widths = [max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))]
    lines = [f"govgraph benchmarks on {backend}, {platform.machine()}, {_cores()} cores"]
    lines.append("  ".join(text.ljust(width) for text, width in zip(header, widths, strict=True)))
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) for row in rows]
    notes = [f"- {item.scenario}: {item.note}" for item in results if item.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def write(results: Sequence[Result], backend: str, path: Path = RESULTS, *, merge: bool = False) -> None:
    """``merge``: a run of some modules only replaces their scenarios and keeps the others' last figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(item), "met": item.met} for item in results]
    if merge and path.exists():
        measured = {row["scenario"] for row in rows}
        kept = [row for row in json.loads(path.read_text())["results"] if row["scenario"] not in measured]
        rows = kept + rows
    document = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backend": backend,
        "machine": {"arch": platform.machine(), "cores": _cores(), "python": platform.python_version()},
        "results": rows,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _figure(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit in ("req/s", "rec/s", "MiB"):
        return f"{value:.0f} {unit}"
    if unit == "ms":
        return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"
    return f"{value:.3g} {unit}"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
