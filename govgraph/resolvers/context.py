"""What one request carries through resolution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from govgraph.auth.principal import ANONYMOUS, Principal
from govgraph.errors import GovgraphError
from govgraph.resolvers.loaders import Loaders

Transform = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class PathError:
    """An error for a path whose value is a plain attribute, placed after execution."""

    path: tuple[str | int, ...]
    error: GovgraphError


@dataclass(eq=False)
class RequestContext:
    request_id: str
    loaders: Loaders
    principal: Principal = ANONYMOUS
    authorizer: Any = None
    """The ``Authorizer``, or ``None`` when authorization is switched off (benchmarks only)."""
    requirements: Any = None
    request: Any = None
    response: Any = None
    decisions: dict[str, str] = field(default_factory=dict)
    """Coordinate → read, mask, verify or deny, as decided for this operation."""
    transforms: dict[str, Transform] = field(default_factory=dict)
    """Field coordinate → the function applied to its raw value (a mask), decided per operation."""
    path_errors: list[PathError] = field(default_factory=list)
    plans: dict[Any, Any] = field(default_factory=dict)
    """Selection plans, cached per field node for this request."""
