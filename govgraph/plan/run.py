"""Run a compiled plan: one batched fetch per department and level, rows projected into the response.

Level by level: the root lookups' keys are fetched (every department of a
selection concurrently, through the same loaders, cache and deadline as the
graphql-core path), each row is projected straight into its response
object, and what lies one level further (references, lists) is gathered
across all objects of the level and fetched as one batch. The response,
the errors, the audit trail's touched keys, the protected paths and the
freshness come out as the graphql-core path makes them; a differential test
over a generated corpus holds the two byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from graphql import GraphQLError, located_error

from govgraph.audit.withhold import ReleasedBlock
from govgraph.errors import BadUserInput, Forbidden, SourceUnavailable
from govgraph.plan.projector import Projector
from govgraph.plan.steps import (
    Checks,
    CompiledOperation,
    Denied,
    EntityList,
    Leaf,
    ObjectField,
    ObjectLeaf,
    ObjectList,
    ObjectValue,
    Question,
    Reference,
    RootEntities,
    RootLookup,
    Selection,
    Typename,
)
from govgraph.resolvers.context import PathError, RequestContext
from govgraph.resolvers.entities import DepartmentFetch
from govgraph.schema.root import MAX_KEYS, plural
from govgraph.sources.base import Row

Path = tuple[str | int, ...]

PACE = 100
"""Objects projected between two turns of the event loop while an audit commit is under way."""
TURNS_TO_SEND = 3
"""Turns of the event loop from starting an audit commit to its statement being sent: the request's commit
task queues the record, the committer wakes and starts the append, the append sends."""


async def run(
    compiled: CompiledOperation, context: RequestContext
) -> tuple[dict[str, Any], list[GraphQLError]]:
    runner = _Runner(context, context.begin_audit if compiled.one_level else None)
    data: dict[str, Any] = {}
    await _all([runner.root(root, data) for root in compiled.roots])
    ordered = {root.key: data[root.key] for root in compiled.roots}
    return ordered, runner.errors


@dataclass
class _Pending:
    """What one level leaves for the next: objects waiting for their references, lists and answers."""

    references: dict[int, tuple[Selection, list[tuple[Any, dict[str, Any], str, Path]]]] = field(
        default_factory=dict
    )
    entity_lists: list[tuple[EntityList, Any, dict[str, Any], Path]] = field(default_factory=list)
    object_lists: list[tuple[ObjectList, Any, dict[str, Any], Path]] = field(default_factory=list)
    answers: list[tuple[Question, Any, dict[str, Any], Path]] = field(default_factory=list)

    def add_reference(
        self, target: Selection, key: Any, holder: dict[str, Any], response_key: str, path: Path
    ) -> None:
        self.references.setdefault(id(target), (target, []))[1].append((key, holder, response_key, path))

    def __bool__(self) -> bool:
        return bool(self.references or self.entity_lists or self.object_lists or self.answers)


class _ChecksRow:
    """What a checks resolver reads: the raw values (which never leave govgraph) and the key."""

    __slots__ = ("_key", "_values")

    def __init__(self, key: Any, values: dict[str, Any]) -> None:
        self._key = key
        self._values = values


class _Runner:
    def __init__(
        self, context: RequestContext, begin_audit: Callable[[RequestContext], None] | None = None
    ) -> None:
        """``begin_audit``: for a plan that reads in one level, called once that level's rows are in."""
        self.context = context
        self.errors: list[GraphQLError] = []
        self.info = SimpleNamespace(context=context)
        self._conditions: dict[int, dict[str, Any] | GraphQLError] = {}
        self._begin_audit = begin_audit
        if begin_audit is not None:
            context.loaders.defer_refills()

    async def root(self, root: Any, data: dict[str, Any]) -> None:
        key = root.key
        data[key] = None
        if isinstance(root, Typename):
            data[key] = root.name
        elif isinstance(root, Denied):
            self.error(root.error, root.nodes, (key,))
        elif isinstance(root, RootLookup):
            await self._lookup(root, data)
        elif isinstance(root, RootEntities):
            await self._entities(root, data)

    async def _lookup(self, root: RootLookup, data: dict[str, Any]) -> None:
        key = root.key
        try:
            arguments = self.context.collection.arguments(root.field)
        except GraphQLError as error:
            self.error(error, root.nodes, (key,))
            return
        (value,) = arguments.values()
        if root.protected:
            self.context.released.append((key,))
        if not root.many:
            try:
                (data[key],) = await self.load(root.selection, [value], [(key,)])
            except Exception as error:
                self.error(error, root.nodes, (key,))
            return
        limits = self.context.limits
        max_keys = limits.max_keys if limits is not None else MAX_KEYS
        if len(value) > max_keys:
            argument = plural(self.context.catalog.entities[root.entity].key_field)
            self.error(
                BadUserInput(f"{argument} takes at most {max_keys} keys, got {len(value)}"),
                root.nodes,
                (key,),
            )
            return
        try:
            data[key] = await self.load(root.selection, value, [(key, index) for index in range(len(value))])
        except Exception as error:
            self.error(error, root.nodes, (key,))

    async def _entities(self, root: RootEntities, data: dict[str, Any]) -> None:
        key = root.key
        representations = self.context.collection.arguments(root.field)["representations"]
        items: list[Any] = [None] * len(representations)
        by_type: dict[str, list[tuple[int, str]]] = {}
        catalog = self.context.catalog
        for index, representation in enumerate(representations):
            entity = catalog.entities[representation["__typename"]]
            if self.context.authorizer is not None:
                decision = self.context.authorizer.decide(
                    self.context.principal, f"{entity.name}.{entity.key_field}"
                )
                if not decision.allowed:
                    items[index] = Forbidden(f"_entities({entity.name})", decision.reason or "denied")
                    continue
            by_type.setdefault(entity.name, []).append((index, representation[entity.key_field]))
        for index in sorted(root.protected_items):
            self.context.released.append((key, index))
        try:
            for entity_name, pairs in by_type.items():
                loaded = await self.load(
                    root.selections[entity_name],
                    [item for _, item in pairs],
                    [(key, index) for index, _ in pairs],
                )
                for (index, _), value in zip(pairs, loaded, strict=True):
                    items[index] = value
        except Exception as error:
            self.error(error, root.nodes, (key,))
            return
        for index, item in enumerate(items):
            if isinstance(item, Exception):
                items[index] = None
                self.error(item, root.nodes, (key, index))
        data[key] = items

    async def load(self, selection: Selection, keys: Sequence[Any], bases: Sequence[Path]) -> list[Any]:
        """The selection's response objects for ``keys`` (``None`` where the home department has no record),
        and everything below them, level by level."""
        pending = _Pending()
        objects = await self._level(selection, keys, bases, pending)
        while pending:
            pending = await self._next_level(pending)
        return objects

    async def _level(
        self, selection: Selection, keys: Sequence[Any], bases: Sequence[Path], pending: _Pending
    ) -> list[Any]:
        fetches = selection.plan.fetches
        lookups = selection.lookups
        if lookups:
            # The level's own lists need only its keys: asked alongside its rows, not a round trip after.
            fetched, _ = await asyncio.gather(self._fetch_all(fetches, keys), self._prefetch(lookups, keys))
        else:
            fetched = await self._fetch_all(fetches, keys)
        context = self.context
        for position, (fetch, rows) in enumerate(zip(fetches, fetched, strict=True)):
            if not isinstance(rows, BaseException) and (fetch.fills or position == 0):
                context.touch(
                    selection.entity,
                    fetch.department,
                    [key for key, row in zip(keys, rows, strict=True) if row],
                )
        pace = 0
        if self._begin_audit is not None:
            # Every read of the request is done: its record is committed while the rows are projected. A few
            # turns of the loop send the commit's statement first; the projection still steps aside now and
            # then, for the requests beside this one and the commit's answer.
            begin, self._begin_audit = self._begin_audit, None
            begin(self.context)
            for _ in range(TURNS_TO_SEND):
                await asyncio.sleep(0)
            pace = PACE
        for rows in fetched:
            if isinstance(rows, BaseException) and not isinstance(rows, SourceUnavailable):
                raise rows
        check_fills = [
            (index, fill)
            for index, fetch in enumerate(fetches)
            for fill in fetch.fills
            if fill.kind == "check"
        ]
        found_rows = [None if isinstance(found, BaseException) else found for found in fetched]
        failures = [
            (fetch, found)
            for fetch, found in zip(fetches, fetched, strict=True)
            if isinstance(found, SourceUnavailable)
        ]
        home = found_rows[0]
        single = len(found_rows) == 1
        project = self._project
        projector = selection.projector
        if projector is not None and single and home is not None:
            return await self._project_rows(projector, selection, keys, home, bases, pace)
        objects: list[Any] = []
        produced: list[Path] = []
        for index, key in enumerate(keys):
            if home is not None and home[index] is None:
                objects.append(None)
                continue
            base = bases[index]
            produced.append(base)
            rows = (
                [home[index]]
                if single and home is not None
                else [None if found is None else found[index] for found in found_rows]
            )
            for fetch, found in failures:
                self._failed(fetch, base, found)
            if projector is None:
                objects.append(project(selection, key, rows, base, check_fills, pending))
            else:
                objects.append(self._project_scalars(projector, selection, key, rows, base))
            if pace and index % pace == pace - 1:
                await asyncio.sleep(0)
        self._released(selection, produced)
        return objects

    def _released(self, selection: Selection, bases: Sequence[Path]) -> None:
        """The protected keys of the objects made: one note for the level, read only if its record fails."""
        if selection.protected_keys and bases:
            self.context.released.append(ReleasedBlock(tuple(bases), selection.protected_keys))

    async def _project_rows(
        self,
        projector: Projector,
        selection: Selection,
        keys: Sequence[Any],
        rows: Sequence[Row | None],
        bases: Sequence[Path],
        pace: int,
    ) -> list[Any]:
        """The shape of every big list: scalars from the one department that answered. The selection's
        projector is called for each object and nothing else (``pace`` objects between two turns of the loop,
        or all at once); a chunk where a value fails to serialize is projected again object by object."""
        objects: list[Any] = []
        size = pace or len(rows) or 1
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            try:
                objects.extend([None if row is None else projector((row,)) for row in chunk])
            except Exception:
                objects.extend(
                    None if row is None else self._project_scalars(projector, selection, key, [row], base)
                    for key, row, base in zip(
                        keys[start : start + size], chunk, bases[start : start + size], strict=True
                    )
                )
            if pace:
                await asyncio.sleep(0)
        if selection.protected_keys:
            self._released(
                selection, [base for row, base in zip(rows, bases, strict=True) if row is not None]
            )
        return objects

    def _project_scalars(
        self, projector: Projector, selection: Selection, key: Any, rows: list[Row | None], base: Path
    ) -> dict[str, Any]:
        try:
            return projector(rows)
        except Exception:
            # A value that does not serialize: step by step, so that its error is recorded where it belongs.
            return self._project(selection, key, rows, base, [], _Pending())

    def _project(
        self,
        selection: Selection,
        key: Any,
        rows: list[Row | None],
        base: Path,
        check_fills: list[tuple[int, Any]],
        pending: _Pending,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for step in selection.fields:
            response_key = step.key
            if type(step) is Leaf:
                row = rows[step.fetch]
                value = None if row is None else row[step.column]
                if value is not None:
                    if step.transform is not None:
                        value = step.transform(value)
                    if type(value) is not step.plain:
                        try:
                            value = step.serialize(value)
                        except Exception as error:
                            value = None
                            self.error(error, step.nodes, (*base, response_key))
                out[response_key] = value
                continue
            out[response_key] = None
            path = (*base, response_key)
            if isinstance(step, Typename):
                out[response_key] = step.name
            elif isinstance(step, Denied):
                self.error(step.error, step.nodes, path)
            elif isinstance(step, Reference):
                row = rows[step.fetch]
                target = row[step.column] if row is not None else None
                if target is not None:
                    pending.add_reference(step.target, target, out, response_key, path)
            elif isinstance(step, ObjectValue):
                row = rows[step.fetch]
                if row is not None and not all(row[column] is None for column in step.columns):
                    out[response_key] = self._object(step.fields, row, path, pending)
            elif isinstance(step, EntityList):
                pending.entity_lists.append((step, key, out, path))
            elif isinstance(step, ObjectList):
                pending.object_lists.append((step, key, out, path))
            elif isinstance(step, Checks):
                values = {
                    fill.name: None if rows[index] is None else rows[index][fill.column]
                    for index, fill in check_fills
                }
                out[response_key] = self._checks(step, _ChecksRow(key, values), path, pending)
        return out

    def _object(
        self, fields: Sequence[ObjectField], row: Row, base: Path, pending: _Pending
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for step in fields:
            out[step.key] = None
            if isinstance(step, ObjectLeaf):
                value = row.get(step.column)
                if value is not None:
                    out[step.key] = (
                        value
                        if type(value) is step.plain
                        else self._serialize(step.serialize, value, step.nodes, (*base, step.key))
                    )
            elif isinstance(step, Typename):
                out[step.key] = step.name
            else:
                target = row.get(step.column)
                if target is not None:
                    pending.add_reference(step.target, target, out, step.key, (*base, step.key))
        return out

    def _checks(self, step: Checks, row: _ChecksRow, base: Path, pending: _Pending) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for question in step.fields:
            path = (*base, question.key)
            out[question.key] = None
            if isinstance(question, Typename):
                out[question.key] = question.name
                continue
            if isinstance(question, Denied):
                self.error(question.error, question.nodes, path)
                continue
            if question.protected:
                self.context.released.append(path)
            conditions = self._conditions_of(question)
            if isinstance(conditions, GraphQLError):
                self.error(conditions, question.nodes, path)
                continue
            try:
                answer = question.answer(row, self.info, **conditions)
            except Exception as error:
                self.error(error, question.nodes, path)
                continue
            if inspect.isawaitable(answer):
                pending.answers.append((question, answer, out, path))
            elif answer is not None:
                out[question.key] = bool(answer)
        return out

    async def _next_level(self, pending: _Pending) -> _Pending:
        following = _Pending()
        entity_lists: dict[int, tuple[EntityList, list[tuple[Any, dict[str, Any], Path]]]] = {}
        for step, key, holder, path in pending.entity_lists:
            entity_lists.setdefault(id(step), (step, []))[1].append((key, holder, path))
        object_lists: dict[int, tuple[ObjectList, list[tuple[Any, dict[str, Any], Path]]]] = {}
        for step, key, holder, path in pending.object_lists:
            object_lists.setdefault(id(step), (step, []))[1].append((key, holder, path))
        await _all(
            [
                *(
                    self._references(target, items, following)
                    for target, items in pending.references.values()
                ),
                *(self._entity_lists(step, parents, following) for step, parents in entity_lists.values()),
                *(self._object_lists(step, parents, following) for step, parents in object_lists.values()),
                *(
                    self._answer(question, answer, holder, path)
                    for question, answer, holder, path in pending.answers
                ),
            ]
        )
        return following

    async def _references(
        self, target: Selection, items: list[tuple[Any, dict[str, Any], str, Path]], pending: _Pending
    ) -> None:
        objects = await self._level(
            target, [key for key, _, _, _ in items], [path for _, _, _, path in items], pending
        )
        for (_, holder, response_key, _), value in zip(items, objects, strict=True):
            holder[response_key] = value

    async def _lookups(
        self,
        step: EntityList | ObjectList,
        columns: tuple[str, ...],
        parents: list[tuple[Any, dict[str, Any], Path]],
    ) -> list[list[Row]] | None:
        """One lookup for every parent of the level; a failure is each parent's list field's error."""
        try:
            found = await self.context.loaders.lookups_of(
                step.department, step.table, step.match, columns, [key for key, _, _ in parents]
            )
        except SourceUnavailable as error:
            for _, _, path in parents:
                self.error(error, step.nodes, path)
            return None
        touched = [key for (key, _, _), rows in zip(parents, found, strict=True) if rows]
        if touched:
            self.context.touch(step.parent_entity, step.department, touched)
        return found

    async def _entity_lists(
        self, step: EntityList, parents: list[tuple[Any, dict[str, Any], Path]], pending: _Pending
    ) -> None:
        found = await self._lookups(step, (step.column,), parents)
        if found is None:
            return
        keys: list[Any] = []
        bases: list[Path] = []
        places: list[tuple[list[Any], int]] = []
        for (_, holder, path), rows in zip(parents, found, strict=True):
            targets = list(dict.fromkeys(row[step.column] for row in rows if row[step.column] is not None))
            items: list[Any] = [None] * len(targets)
            holder[step.key] = items
            for index, target in enumerate(targets):
                keys.append(target)
                bases.append((*path, index))
                places.append((items, index))
        if keys:
            objects = await self._level(step.target, keys, bases, pending)
            for (items, index), value in zip(places, objects, strict=True):
                items[index] = value

    async def _object_lists(
        self, step: ObjectList, parents: list[tuple[Any, dict[str, Any], Path]], pending: _Pending
    ) -> None:
        found = await self._lookups(step, step.columns, parents)
        if found is None:
            return
        for (_, holder, path), rows in zip(parents, found, strict=True):
            holder[step.key] = [
                self._object(step.fields, row, (*path, index), pending) for index, row in enumerate(rows)
            ]

    async def _answer(self, question: Question, answer: Any, holder: dict[str, Any], path: Path) -> None:
        try:
            value = await answer
        except Exception as error:
            self.error(error, question.nodes, path)
            return
        holder[question.key] = None if value is None else bool(value)

    async def _fetch_all(self, fetches: Sequence[DepartmentFetch], keys: Sequence[Any]) -> list[Any]:
        loaders = self.context.loaders

        async def one(fetch: DepartmentFetch) -> Any:
            try:
                return await loaders.rows_of(
                    fetch.department, fetch.table, fetch.key_column, fetch.columns, keys
                )
            except Exception as error:
                return error

        if len(fetches) == 1:
            return [await one(fetches[0])]
        return list(await asyncio.gather(*(one(fetch) for fetch in fetches)))

    async def _prefetch(self, lookups: Sequence[EntityList | ObjectList], keys: Sequence[Any]) -> None:
        """Fill the loaders' memo for the level's lists; ``_lookups`` then reads it for the parents that exist.

        Nothing here reaches the response or the audit trail: a parent with no record never reads its
        result, and a failure is left for ``_lookups`` to meet again and report where it belongs."""
        loaders = self.context.loaders

        async def one(step: EntityList | ObjectList) -> None:
            columns = (step.column,) if isinstance(step, EntityList) else step.columns
            with contextlib.suppress(Exception):
                await loaders.lookups_of(step.department, step.table, step.match, columns, keys)

        await _all([one(step) for step in lookups])

    def _failed(self, fetch: DepartmentFetch, base: Path, error: SourceUnavailable) -> None:
        for fill in fetch.fills:
            for relative in fill.paths:
                self.context.path_errors.append(PathError((*base, *relative), error))

    def _conditions_of(self, question: Question) -> dict[str, Any] | GraphQLError:
        known = self._conditions.get(id(question))
        if known is None:
            try:
                known = self.context.collection.arguments(question.field)
            except GraphQLError as error:
                known = error
            self._conditions[id(question)] = known
        return known

    def _serialize(self, serialize: Any, value: Any, nodes: Any, path: Path) -> Any:
        try:
            return serialize(value)
        except Exception as error:
            self.error(error, nodes, path)
            return None

    def error(self, error: BaseException, nodes: Any, path: Path) -> None:
        self.errors.append(located_error(error, list(nodes), list(path)))


async def _all(work: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """``asyncio.gather``, without a task for a single piece of work (the common case: one root, one list)."""
    if len(work) == 1:
        return [await work[0]]
    return list(await asyncio.gather(*work))
