"""`make bench`: run every benchmark module in bench/ (each exposes ``async def run()``) and print its ratios."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys

import bench

SKIP = {"common", "__main__"}


def main(selected: list[str]) -> int:
    names = [module.name for module in pkgutil.iter_modules(bench.__path__) if module.name not in SKIP]
    for name in sorted(names):
        if selected and name not in selected:
            continue
        module = importlib.import_module(f"bench.{name}")
        asyncio.run(module.run())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
