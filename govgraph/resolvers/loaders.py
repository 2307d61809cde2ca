"""Per-request loaders: the one place where batching and chunking live.

A loader exists per (department, table, column, selected columns) for one
request. Every key asked for within one tick goes to the source as one
``IN (...)`` query, chunked at the source's ``max_keys_per_query``. Loaders
for different departments dispatch independently, so departments are
fetched concurrently. Batches a caller makes itself (``rows_of``, the
compiled plan's) for one table and key column in the same tick are joined
into one statement for the union of their columns. With a ``RowCache``, each batch first looks in the
cache and sends only the misses and the live columns to the source. Every
fetch must finish by the request's deadline, so a hanging department
cannot hold a request beyond it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from govgraph.auth.questions import Question, QuestionWindow
from govgraph.cache.freshness import NO_DEMAND, Demand, Freshness
from govgraph.cache.rows import NO_DEPARTMENT, Refill, RowCache
from govgraph.errors import SourceUnavailable
from govgraph.sources.base import Row, Source

LoaderKey = tuple[str, str, str, tuple[str, ...]]


class Loaders:
    def __init__(
        self,
        sources: Mapping[str, Source],
        cache: RowCache | None = None,
        demand: Demand = NO_DEMAND,
        deadline: float | None = None,
        partition: str = NO_DEPARTMENT,
    ) -> None:
        """``deadline``: the event loop time by which every fetch of this request must be done.
        ``partition``: the consumer department whose cache entries this request reads and fills."""
        self._sources = sources
        self._cache = cache
        self.demand = demand
        self.deadline = deadline
        self.partition = partition
        self.freshness = Freshness()
        self._rows: dict[LoaderKey, DataLoader[Any, Row | None]] = {}
        self._lookups: dict[LoaderKey, DataLoader[Any, list[Row]]] = {}
        self._rows_of: dict[LoaderKey, dict[Any, Row | None]] = {}
        self._lookups_of: dict[LoaderKey, dict[Any, list[Row]]] = {}
        self._forming: dict[tuple[str, str, str], list[tuple[LoaderKey, list[Any], dict[Any, Any]]]] = {}
        self._formed: dict[tuple[str, str, str], asyncio.Future[None]] = {}
        self._questions: DataLoader[Question, float | None] | None = None
        self._later: list[Refill] | None = None
        self._bounded_sources: dict[str, Source] = {}

    def defer_refills(self) -> None:
        """From now on the rows fetched are stored in the cache only by ``refill``: a caller with something
        more urgent to start once the rows are in (the compiled plan's audit commit) does that first."""
        if self._later is None:
            self._later = []

    @property
    def refills_waiting(self) -> bool:
        return bool(self._later)

    async def refill(self) -> None:
        """Store what was deferred; fetches store their rows themselves again."""
        later, self._later = self._later or [], None
        for refill in later:
            await refill()

    def questions(self, window: QuestionWindow) -> DataLoader[Question, float | None]:
        """Yes/no questions drawn on their principal's window budget: one round trip per tick."""
        if self._questions is None:

            async def ask(questions: Sequence[Question]) -> list[float | None]:
                return await window.ask(questions)

            self._questions = DataLoader(ask, max_batch_size=1000)
        return self._questions

    def rows(
        self, department: str, table: str, key_column: str, columns: tuple[str, ...]
    ) -> DataLoader[Any, Row | None]:
        """A per-key loader: every key asked in one tick goes to the department together."""
        loader_key = (department, table, key_column, columns)
        loader = self._rows.get(loader_key)
        if loader is None:

            async def load(keys: Sequence[Any]) -> list[Row | None]:
                return await self._fetch(loader_key, keys)

            loader = DataLoader(load, max_batch_size=self._sources[department].max_keys_per_query)
            self._rows[loader_key] = loader
        return loader

    def lookup(
        self, department: str, table: str, match_column: str, columns: tuple[str, ...]
    ) -> DataLoader[Any, list[Row]]:
        loader_key = (department, table, match_column, columns)
        loader = self._lookups.get(loader_key)
        if loader is None:

            async def load(keys: Sequence[Any]) -> list[list[Row]]:
                return await self._look_up(loader_key, keys)

            loader = DataLoader(load, max_batch_size=self._sources[department].max_keys_per_query)
            self._lookups[loader_key] = loader
        return loader

    async def rows_of(
        self, department: str, table: str, key_column: str, columns: tuple[str, ...], keys: Sequence[Any]
    ) -> list[Row | None]:
        """The rows for many keys at once, for a caller that has batched them itself (the compiled plan):
        no future per key. Each key is fetched once per request; chunks go to the department together."""
        loader_key = (department, table, key_column, columns)
        known = self._rows_of.setdefault(loader_key, {})
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            await self._together(loader_key, missing, known)
        return [known[key] for key in keys]

    async def _together(self, loader_key: LoaderKey, missing: list[Any], known: dict[Any, Any]) -> None:
        """Rows of one table by one key column asked in the same tick go out as one statement for the union
        of their columns and keys: a person's enterprises and their employer, say, selected differently.

        The first caller leads: it lets the tick's other callers join, then fetches for all of them."""
        department, table, key_column, _ = loader_key
        target = (department, table, key_column)
        forming = self._forming.get(target)
        if forming is not None:
            forming.append((loader_key, missing, known))
            await asyncio.shield(self._formed[target])
            return
        forming = self._forming[target] = [(loader_key, missing, known)]
        done = self._formed[target] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.sleep(0)
        finally:
            del self._forming[target]
            del self._formed[target]
        try:
            if len(forming) == 1:
                await self._batched(loader_key, missing, known, self._fetch)
            else:
                columns = tuple(dict.fromkeys(column for key, _, _ in forming for column in key[3]))
                keys = list(dict.fromkeys(key for _, wanted, _ in forming for key in wanted))
                merged: dict[Any, Row | None] = {}
                await self._batched((department, table, key_column, columns), keys, merged, self._fetch)
                for _, wanted, into in forming:
                    into.update((key, merged[key]) for key in wanted)
        except BaseException as error:
            if len(forming) > 1:
                if isinstance(error, asyncio.CancelledError):
                    done.cancel()
                else:
                    done.set_exception(error)
            raise
        done.set_result(None)

    async def lookups_of(
        self, department: str, table: str, match_column: str, columns: tuple[str, ...], keys: Sequence[Any]
    ) -> list[list[Row]]:
        loader_key = (department, table, match_column, columns)
        known = self._lookups_of.setdefault(loader_key, {})
        await self._batched(loader_key, keys, known, self._look_up)
        return [known[key] for key in keys]

    async def _batched(
        self, loader_key: LoaderKey, keys: Sequence[Any], known: dict[Any, Any], batch: Any
    ) -> None:
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if not missing:
            return
        size = self._sources[loader_key[0]].max_keys_per_query
        if len(missing) <= size:  # one chunk: no task to gather
            known.update(zip(missing, await batch(loader_key, missing), strict=True))
            return
        chunks = [missing[start : start + size] for start in range(0, len(missing), size)]
        results = await asyncio.gather(*(batch(loader_key, chunk) for chunk in chunks))
        for chunk, found in zip(chunks, results, strict=True):
            known.update(zip(chunk, found, strict=True))

    def _bounded(self, department: str) -> Source:
        """The department's source, each of its calls bounded by the request's deadline. The cache is read
        outside it (in memory, or Redis within its own timeout): a fetch the cache answers sets no timer."""
        source = self._sources[department]
        if self.deadline is None:
            return source
        bounded = self._bounded_sources.get(department)
        if bounded is None:
            bounded = self._bounded_sources[department] = _Bounded(source, self.deadline)
        return bounded

    async def _fetch(self, loader_key: LoaderKey, keys: Sequence[Any]) -> list[Row | None]:
        found = await self._read("fetch", loader_key, keys)
        return [found.get(key) for key in keys]

    async def _look_up(self, loader_key: LoaderKey, keys: Sequence[Any]) -> list[list[Row]]:
        found = await self._read("lookup", loader_key, keys)
        return [found.get(key, []) for key in keys]

    async def _read(self, method: str, loader_key: LoaderKey, keys: Sequence[Any]) -> Mapping[Any, Any]:
        """``fetch`` or ``lookup``: through the cache when there is one, else straight from the department."""
        department, table, column, columns = loader_key
        source = self._bounded(department)
        if self._cache is None:
            found: Mapping[Any, Any] = await getattr(source, method)(table, column, columns, keys)
            self.freshness.record(department, time.time(), "live", None)
            return found
        read = getattr(self._cache, method)
        return await read(  # type: ignore[no-any-return]
            source, table, column, columns, keys, self.demand, self.freshness, self.partition, self._later
        )

    async def scan(
        self,
        department: str,
        table: str,
        key_column: str,
        *,
        equals: Mapping[str, Any],
        after: Any | None,
        limit: int,
    ) -> list[Any]:
        """One page of keys in key order; pages are not batched or cached, each is one query."""
        return await self._bounded(department).scan(
            table, key_column, equals=equals, after=after, limit=limit
        )


class _Bounded:
    """A source whose every call ends by the request's deadline, or fails as the department's."""

    __slots__ = ("_deadline", "_source", "department", "max_keys_per_query")

    def __init__(self, source: Source, deadline: float) -> None:
        self._source = source
        self._deadline = deadline
        self.department = source.department
        self.max_keys_per_query = source.max_keys_per_query

    async def fetch(self, *arguments: Any) -> dict[Any, Row]:
        async with _Deadline(self._deadline, self.department):
            return await self._source.fetch(*arguments)

    async def lookup(self, *arguments: Any) -> dict[Any, list[Row]]:
        async with _Deadline(self._deadline, self.department):
            return await self._source.lookup(*arguments)

    async def scan(self, *arguments: Any, **options: Any) -> list[Any]:
        async with _Deadline(self._deadline, self.department):
            return await self._source.scan(*arguments, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


class _Deadline:
    """The request's deadline around one fetch (a class, not a generator: this is the hot path)."""

    __slots__ = ("department", "timeout")

    def __init__(self, deadline: float | None, department: str) -> None:
        self.timeout = asyncio.timeout_at(deadline)
        self.department = department

    async def __aenter__(self) -> None:
        await self.timeout.__aenter__()

    async def __aexit__(self, error_type: type[BaseException] | None, error: Any, traceback: Any) -> None:
        try:
            await self.timeout.__aexit__(error_type, error, traceback)
        except TimeoutError:
            raise SourceUnavailable(self.department, "past the request's deadline") from None
