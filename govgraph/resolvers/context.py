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


@dataclass(frozen=True, slots=True)
class Refusal:
    """A yes/no question refused because its principal asked too many about one entity in the window."""

    coordinate: str
    key: str


@dataclass(eq=False)
class RequestContext:
    request_id: str
    loaders: Loaders
    principal: Principal = ANONYMOUS
    authorizer: Any = None
    """The ``Authorizer``, or ``None`` when authorization is switched off (benchmarks only)."""
    requirements: Any = None
    limits: Any = None
    """The query ``Limits``, measured before the first field runs."""
    catalog: Any = None
    entities: Any = None
    """The ``EntityLoader``, for compiled plans."""
    prepared: Any = None
    """The app's ``PreparedOperations``: limits, plans and compiled plans kept per operation and decision set."""
    compile: bool = False
    """Run covered operations as compiled plans (off: everything through graphql-core, the reference)."""
    sdl_open: bool = True
    """Whether this caller may read ``_service { sdl }``."""
    hide_suggestions: bool = False
    """No "Did you mean ..." in any message (production)."""
    questions: Any = None
    """The ``QuestionWindow`` that budgets verify-only questions across requests."""
    response: Any = None
    """The response the endpoint finishes (its Cache-Control). No request: the context lives in the
    request's state, and a reference back would make each request a cycle for the garbage collector."""
    cache_note: str | None = None
    """Why the client's Cache-Control was not fully honoured, if it wasn't."""
    collection: Any = None
    """The operation's one field collection (``operation.collection.FieldCollection``)."""
    plan: Any = None
    """The authorization plan for this operation (``auth.operation.OperationPlan``)."""
    accepted: bool = False
    """The operation passed its limits and is about to run (an APQ document may then be stored)."""
    decisions: dict[str, str] = field(default_factory=dict)
    """Coordinate → read, mask, verify or deny, as decided for this operation."""
    transforms: dict[str, Transform] = field(default_factory=dict)
    """Field coordinate → the function applied to its raw value (a mask), decided per operation."""
    released: list[Any] = field(default_factory=list)
    """The executor's path of every conditional or sensitive value it produced."""
    refusals: list[Refusal] = field(default_factory=list)
    path_errors: list[PathError] = field(default_factory=list)
    plans: dict[Any, Any] = field(default_factory=dict)
    """Selection plans, cached per field node for this request."""
    touched: dict[tuple[str, str], set[Any]] = field(default_factory=dict)
    """(entity type, provider department) → keys whose records were read, for the audit trail."""
    served_from: dict[str, str] = field(default_factory=dict)
    """Provider department → live, cache or stale."""
    public_only: bool = False
    """Proven, once the audit record is built, to hold public fields only (nothing an audit record would hold)."""
    operation_name: str | None = None
    operation_type: str | None = None
    """``query`` or ``mutation``, once the document is parsed and validated."""
    document_hash: str | None = None
    audit: Any = None
    """The ``AuditStore``, for the oversight queries."""
    begin_audit: Any = None
    """Set by the endpoint: builds the record and starts its commit, for a plan that knows its reads are done
    before its rows are projected; the response still waits for the commit."""
    audit_begun: Any = None
    """``(record, commit task)`` once ``begin_audit`` has run (the task is ``None`` when no record is due)."""

    def touch(self, entity: str, department: str, keys: Any) -> None:
        self.touched.setdefault((entity, department), set()).update(keys)
