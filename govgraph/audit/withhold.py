"""Withholding: when a response's audit record cannot be committed, its protected values do not leave.

The executor notes the path of every conditional or sensitive value it
produced (``operation/executor.py``); a compiled plan notes a level's objects
and their protected keys once (``ReleasedBlock``), not a path per value, since
the paths are only ever read when a record fails. Withholding nulls exactly those paths
in the result, outermost first, and puts ``AUDIT_UNAVAILABLE`` at each; errors
about anything beneath a withheld path go with it. It does not re-read the
operation, so nothing a client can write (an alias, a fragment, a directive,
``_entities``) reaches a value it misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graphql.pyutils import Path

from govgraph.errors import AuditUnavailable
from govgraph.resolvers.context import PathError

ResponsePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ReleasedBlock:
    """The same protected keys under each of a level's objects: the paths ``(*base, key)``."""

    bases: tuple[ResponsePath, ...]
    keys: tuple[str, ...]

    def paths(self) -> Iterator[ResponsePath]:
        for base in self.bases:
            for key in self.keys:
                yield (*base, key)


def withhold(
    data: dict[str, Any], released: Iterable[Path | ResponsePath | ReleasedBlock]
) -> list[PathError]:
    """Null every released path still present in ``data`` (in place); an error for each nulled path.

    Paths are the executor's (graphql-core ``Path``) or a compiled plan's (tuples and blocks)."""
    error = AuditUnavailable()
    withheld: set[ResponsePath] = set()
    errors: list[PathError] = []
    paths = released_paths(released)
    for path in sorted(paths, key=len):
        if any(path[:length] in withheld for length in range(1, len(path))):
            continue
        if _null_at(data, path):
            withheld.add(path)
            errors.append(PathError(path, error))
    return errors


def released_paths(released: Iterable[Path | ResponsePath | ReleasedBlock]) -> set[ResponsePath]:
    paths: set[ResponsePath] = set()
    for item in released:
        # graphql-core's Path is itself a (named) tuple: tell it apart first.
        if isinstance(item, Path):
            paths.add(tuple(item.as_list()))
        elif isinstance(item, ReleasedBlock):
            paths.update(item.paths())
        else:
            paths.add(item)
    return paths


def beneath(path: Sequence[str | int] | None, withheld: set[ResponsePath]) -> bool:
    """Whether ``path`` is a withheld path or lies under one."""
    if not path:
        return False
    key = tuple(path)
    return any(key[:length] in withheld for length in range(1, len(key) + 1))


def _null_at(data: Any, path: ResponsePath) -> bool:
    container = data
    for step in path[:-1]:
        if isinstance(container, dict):
            container = container.get(step)  # type: ignore[call-overload]
        elif isinstance(container, list) and isinstance(step, int) and step < len(container):
            container = container[step]
        else:
            return False
        if container is None:
            return False
    last = path[-1]
    if isinstance(container, dict) and last in container:
        container[last] = None  # type: ignore[index]
        return True
    if isinstance(container, list) and isinstance(last, int) and last < len(container):
        container[last] = None
        return True
    return False
