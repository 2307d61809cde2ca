"""A compiled plan is data: a frozen tree of steps, read by a small loop (``run.py``).

Each entity selection is a ``Selection``: the departments and columns to fetch
(the entity loader's own ``SelectionPlan``, so both paths ask the same
questions of the same departments) and, in response order, what to put under
each response key. Nothing here depends on a particular request's keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode

from govgraph.errors import Forbidden
from govgraph.operation.collection import SelectedField
from govgraph.resolvers.entities import SelectionPlan

Serialize = Callable[[Any], Any]
Transform = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Typename:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Denied:
    """``null`` plus ``FORBIDDEN`` at every place the field is reached; never fetched."""

    key: str
    error: Forbidden
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class Leaf:
    """A scalar of the entity: one fetch's column, through its mask, serialized as the schema does."""

    key: str
    name: str
    fetch: int
    column: str
    transform: Transform
    serialize: Serialize
    plain: type | None
    """The Python type ``serialize`` returns unchanged (``str`` for a String): such values skip it."""
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class ObjectLeaf:
    key: str
    column: str
    serialize: Serialize
    plain: type | None
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class ObjectReference:
    key: str
    column: str
    target: Selection
    nodes: tuple[FieldNode, ...]


ObjectField = ObjectLeaf | ObjectReference | Typename


@dataclass(frozen=True, slots=True)
class ObjectValue:
    """An object built from the same row (``SocialInsurance``): ``null`` when all its columns are."""

    key: str
    name: str
    fetch: int
    columns: tuple[str, ...]
    fields: tuple[ObjectField, ...]
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    key: str
    name: str
    fetch: int
    column: str
    target: Selection
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class EntityList:
    """Rows of a lookup table whose ``match`` column holds the parent's key, each naming a target."""

    key: str
    parent_entity: str
    department: str
    table: str
    match: str
    column: str
    target: Selection
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class ObjectList:
    key: str
    parent_entity: str
    department: str
    table: str
    match: str
    columns: tuple[str, ...]
    fields: tuple[ObjectField, ...]
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class Question:
    """One yes/no question, answered by the same resolver graphql-core would call."""

    key: str
    name: str
    field: SelectedField
    """For its coerced conditions."""
    answer: Callable[..., Any]
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class Checks:
    key: str
    fields: tuple[Question | Denied | Typename, ...]


Step = Typename | Denied | Leaf | ObjectValue | Reference | EntityList | ObjectList | Checks


@dataclass(frozen=True, slots=True)
class Selection:
    entity: str
    plan: SelectionPlan
    fields: tuple[Step, ...]
    projector: Callable[..., dict[str, Any]] | None = None
    """For scalars only: ``fields`` made into one function (``projector.py``)."""
    protected_keys: tuple[str, ...] = field(init=False)
    """The response keys under each object whose value must wait for the audit record: the same for every
    object the selection makes (a verify question's are noted by the question)."""

    def __post_init__(self) -> None:
        protected = tuple(
            step.key
            for step in self.fields
            if isinstance(step, Leaf | Reference | ObjectValue | EntityList | ObjectList) and step.protected
        )
        object.__setattr__(self, "protected_keys", protected)

    @property
    def lookups(self) -> tuple[EntityList | ObjectList, ...]:
        """The lists of the entity itself: their lookups need only its keys."""
        return tuple(step for step in self.fields if isinstance(step, EntityList | ObjectList))


@dataclass(frozen=True, slots=True)
class RootLookup:
    """``person(idNumber:)`` or ``persons(idNumbers:)``: keys from the coerced arguments."""

    key: str
    entity: str
    many: bool
    field: SelectedField
    selection: Selection
    protected: bool
    nodes: tuple[FieldNode, ...]


@dataclass(frozen=True, slots=True)
class RootEntities:
    key: str
    field: SelectedField
    selections: dict[str, Selection]
    """Runtime type → its selection."""
    protected_items: frozenset[int]
    nodes: tuple[FieldNode, ...]


Root = Typename | Denied | RootLookup | RootEntities


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    roots: tuple[Root, ...]
    document: Any
    """Held so that the nodes' identities the plan relies on outlive it."""
    one_level: bool = False
    """One root whose every read is in its first level (no references, lists or verify questions): once
    that level's rows are in, the audit record is complete and its commit can start (``run.py``)."""


def reads_one_level(selection: Selection) -> bool:
    """Whether every department read of the selection happens in its own level."""
    for step in selection.fields:
        if isinstance(step, Reference | EntityList | ObjectList | Checks):
            return False
        if isinstance(step, ObjectValue) and not all(
            isinstance(field, ObjectLeaf | Typename) for field in step.fields
        ):
            return False
    return True
