"""``PlanCache``: compiled plans kept per operation and decision set, bounded, least recently used first out.

A plan depends on the document, the operation, the principal's decision set
(authenticated, department, roles, purpose: what decides every coordinate)
and the values of the Boolean variables that ``@include`` and ``@skip`` may
read; keys, conditions and other values are read per request. An operation
whose yes/no questions were over the per-operation limit depends on its
conditions too, so it is compiled for its request alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from govgraph.plan.steps import CompiledOperation


class PlanCache:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self.compiled = 0
        self._plans: OrderedDict[Hashable, CompiledOperation | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._plans)

    def get_or_compile(
        self, key: Hashable | None, compile_plan: Callable[[], CompiledOperation | None]
    ) -> CompiledOperation | None:
        """The cached plan (``None``: the operation is not covered), compiling it the first time."""
        if key is None:
            self.compiled += 1
            return compile_plan()
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        self.compiled += 1
        plan = compile_plan()
        self._plans[key] = plan
        while len(self._plans) > self.max_entries:
            self._plans.popitem(last=False)
        return plan


def plan_key(operation: Any, principal_key: Hashable, variables: dict[str, Any]) -> Hashable:
    flags = tuple(sorted((name, value) for name, value in variables.items() if isinstance(value, bool)))
    return (id(operation), principal_key, flags)
