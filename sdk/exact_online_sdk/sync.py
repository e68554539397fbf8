"""Incremental sync: a full first load, then only what changed, deletions included, without losing a row.

Each (division, sync endpoint) is a *stream* with a cursor: the highest ``Timestamp`` the consumer has accepted.
A run asks ``sync/...?$filter=Timestamp gt {cursor}L`` and follows ``__next``; Exact returns rows in ``Timestamp``
order, 1000 a page. Deletions come from ``sync/Deleted`` (one stream per division) and are delivered after the
changes of the same run, mapped to the sync endpoint they belong to.

Delivery is at-least-once and resumable: a batch's cursor is saved only once the consumer has accepted it (the
consumer function returned, or the iterator was asked for the next batch). A run killed at any point resumes from
the last accepted batch: rows may be delivered twice, never lost. Make the sink idempotent (upsert by key).

The engine is written once: ``_Plan`` decides what to ask and how a page becomes batches, and a run is one sans-IO
stream (``_SyncBase._run_stream``) that the client drives with blocking calls (:class:`Sync`) or awaits
(:class:`AsyncSync`); ``tests/unit/core/test_sync_shells.py`` proves that both decide the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast, overload

from ._core.drive import Emit, Stream
from .edm import parse_int64
from .exceptions import ExactOnlineError
from .registry import registry
from .registry.deleted import SYNC_PATH_BY_ENTITY_TYPE, DeletedEntityType, entity_type_for_sync_path

if TYPE_CHECKING:
    from .client import AsyncExactOnlineClient, ExactOnlineClient

__all__ = [
    "DELETED_STREAM",
    "AsyncSync",
    "CursorStore",
    "FileCursorStore",
    "MemoryCursorStore",
    "Sync",
    "SyncBatch",
    "SyncError",
    "SyncProgress",
    "SyncReport",
    "sync_divisions",
]

log = logging.getLogger(__name__)

DELETED_STREAM = "sync/Deleted"


class SyncError(ExactOnlineError, ValueError):
    """A sync was configured wrongly (unknown or non-sync endpoint, no division) or a row lacks its Timestamp."""


# --- cursor stores ------------------------------------------------------------------------------------------


class CursorStore(Protocol):
    """Where cursors live: the highest accepted Timestamp per (division, stream)."""

    def load(self, division: int, stream: str) -> int | None:
        """The saved cursor, or None before the first accepted batch."""
        ...

    def save(self, division: int, stream: str, timestamp: int) -> None:
        """Persist a cursor durably before returning."""
        ...


class MemoryCursorStore:
    """Cursors in a dict (tests, one-off runs)."""

    def __init__(self) -> None:
        self._data: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    def load(self, division: int, stream: str) -> int | None:
        with self._lock:
            return self._data.get((division, stream))

    def save(self, division: int, stream: str, timestamp: int) -> None:
        with self._lock:
            self._data[(division, stream)] = timestamp


class FileCursorStore:
    """Cursors in one JSON file, written atomically (temp file, fsync, rename) so a crash never corrupts it.

    Safe for threads and tasks of one process; give each concurrently running process its own file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, int]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SyncError(f"cursor file {self.path} is corrupt: {exc}") from exc
        if not isinstance(data, dict):
            raise SyncError(f"cursor file {self.path} does not hold a JSON object")
        return data

    def load(self, division: int, stream: str) -> int | None:
        with self._lock:
            value = self._read().get(str(division), {}).get(stream)
        return None if value is None else int(value)

    def save(self, division: int, stream: str, timestamp: int) -> None:
        with self._lock:
            data = self._read()
            data.setdefault(str(division), {})[stream] = int(timestamp)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".cursor-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, sort_keys=True, indent=1)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise


# --- batches and progress -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """One page handed to the consumer.

    ``kind`` is ``"changes"`` (rows of ``endpoint``, new or updated) or ``"deletions"`` (rows of ``sync/Deleted``
    whose ``endpoint`` is the sync endpoint of the deleted record; ``entity_type`` says which).
    """

    division: int
    endpoint: str
    kind: Literal["changes", "deletions"]
    rows: list[dict[str, Any]]
    cursor: int
    stream: str
    page: int
    entity_type: DeletedEntityType | None = None


@dataclass(slots=True)
class SyncProgress:
    """Running totals for one division, passed to ``on_progress`` after each page."""

    division: int
    stream: str = ""
    rows: int = 0
    deletions: int = 0
    pages: int = 0
    rate_limits: Any = None
    expected_rows: int | None = None
    """Rows the change streams will deliver in all (only with ``count_total=True`` and when Exact reports it)."""


@dataclass(slots=True)
class SyncReport:
    """What a run delivered, per stream: rows and pages (deletions under the ``sync/Deleted`` stream)."""

    rows: dict[tuple[int, str], int] = field(default_factory=dict)
    pages: dict[tuple[int, str], int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        """All rows delivered (changes and deletions)."""
        return sum(self.rows.values())

    def merge(self, other: SyncReport) -> None:
        """Add another report's figures to this one."""
        for key, value in other.rows.items():
            self.rows[key] = self.rows.get(key, 0) + value
        for key, value in other.pages.items():
            self.pages[key] = self.pages.get(key, 0) + value


# --- the pure plan shared by both shells --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stream:
    endpoint: str
    select: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Read:
    """One stream of a run: its cursor key (the endpoint path), the fields to ask and whether to ask the total."""

    stream: str
    select: tuple[str, ...]
    count: bool
    deletions: bool


class _Plan:
    """Sans-IO: which streams to read, with which query, and how a page becomes a batch."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        division: int,
        select: Mapping[str, Sequence[str]] | Sequence[str] | None,
        include_deletions: bool,
        initial_timestamp: int,
        count_total: bool = False,
    ) -> None:
        self.division = division
        self.initial_timestamp = initial_timestamp
        self.count_total = count_total
        streams: list[_Stream] = []
        for endpoint in endpoints:
            path = endpoint.strip("/")
            spec = registry().get(path)
            if spec is None or spec.kind != "sync" or path == DELETED_STREAM:
                raise SyncError(f"{endpoint!r} is not a sync endpoint (e.g. 'sync/CRM/Accounts')")
            streams.append(_Stream(path, self._select_for(path, select)))
        self.streams = tuple(streams)
        self.deleted_types = {entity_type_for_sync_path(s.endpoint) for s in self.streams} - {None}
        self.include_deletions = include_deletions and bool(self.deleted_types)

    @staticmethod
    def _select_for(path: str, select: Mapping[str, Sequence[str]] | Sequence[str] | None) -> tuple[str, ...]:
        chosen = select.get(path) if isinstance(select, Mapping) else select
        if not chosen:
            spec = registry()[path]
            chosen = [f.name for f in spec.fields if not f.is_navigation]
        names = list(dict.fromkeys(chosen))
        if "Timestamp" not in names:
            names.append("Timestamp")  # the cursor needs it
        return tuple(names)

    def params(self, cursor: int | None, select: Sequence[str] | None, *, count: bool = False) -> dict[str, str]:
        start = self.initial_timestamp if cursor is None else cursor
        params = {"$filter": f"Timestamp gt {int(start)}L"}
        if select:
            params["$select"] = ",".join(select)
        if count:
            params["$inlinecount"] = "allpages"  # the total rides on every page, at no extra call
        return params

    def deleted_select(self) -> tuple[str, ...]:
        return tuple(f.name for f in registry()[DELETED_STREAM].fields)

    def reads(self) -> Iterator[_Read]:
        """The streams of a run, in order: each sync endpoint, then ``sync/Deleted`` when deletions are wanted."""
        for stream in self.streams:
            yield _Read(stream.endpoint, stream.select, self.count_total, deletions=False)
        if self.include_deletions:
            yield _Read(DELETED_STREAM, self.deleted_select(), False, deletions=True)

    def batches(self, read: _Read, rows: list[dict[str, Any]], previous: int | None, page: int) -> list[SyncBatch]:
        """The batches one page of ``read`` becomes (one for changes; one per entity type for deletions)."""
        if read.deletions:
            return self.deletion_batches(rows, previous, page)
        return [self.batch(read.stream, read.stream, rows, previous, page)]

    def batch(
        self, stream: str, endpoint: str, rows: list[dict[str, Any]], previous: int | None, page: int
    ) -> SyncBatch:
        cursor = previous if previous is not None else self.initial_timestamp
        for row in rows:
            stamp = parse_int64(row.get("Timestamp"))
            if stamp is None:
                raise SyncError(f"a row of {endpoint} has no Timestamp; include it in $select")
            cursor = max(cursor, stamp)
        return SyncBatch(self.division, endpoint, "changes", rows, cursor, stream, page)

    def deletion_batches(self, rows: list[dict[str, Any]], previous: int | None, page: int) -> list[SyncBatch]:
        """Split a sync/Deleted page by entity type; the last batch carries the page's cursor."""
        cursor = previous if previous is not None else self.initial_timestamp
        grouped: dict[DeletedEntityType, list[dict[str, Any]]] = {}
        for row in rows:
            stamp = parse_int64(row.get("Timestamp"))
            if stamp is None:
                raise SyncError("a sync/Deleted row has no Timestamp")
            cursor = max(cursor, stamp)
            try:
                kind = DeletedEntityType(int(row.get("EntityType", -1)))
            except ValueError:
                continue  # a type we do not know (19-21): nothing of ours to delete
            if kind in self.deleted_types:
                grouped.setdefault(kind, []).append(row)
        batches = [
            SyncBatch(
                self.division,
                SYNC_PATH_BY_ENTITY_TYPE[kind],
                "deletions",
                group,
                cursor,
                DELETED_STREAM,
                page,
                kind,
            )
            for kind, group in sorted(grouped.items())
        ]
        if not batches:
            # Still hand over the cursor so an all-foreign page is not re-read forever.
            batches.append(SyncBatch(self.division, DELETED_STREAM, "deletions", [], cursor, DELETED_STREAM, page))
        return batches


def _resolve_division(client: Any, division: int | None) -> int:
    chosen = division if division is not None else getattr(client, "division", None)
    if chosen is None:
        raise SyncError("sync needs a division: pass division= or build the client with one")
    return int(chosen)


# --- the engine, once: configuration, the plan, and the whole run as a sans-IO stream ------------------------


ClientT = TypeVar("ClientT", bound="ExactOnlineClient | AsyncExactOnlineClient")
BatchesT = TypeVar("BatchesT", Iterator[SyncBatch], AsyncIterator[SyncBatch])


class _SyncBase(Generic[ClientT, BatchesT]):
    """What both engines share: configuration, the plan, the run as a stream, and accepting a batch."""

    def __init__(
        self,
        client: ClientT,
        endpoints: Sequence[str],
        *,
        cursor_store: CursorStore,
        division: int | None = None,
        select: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        include_deletions: bool = True,
        initial_timestamp: int = 0,
        on_progress: Callable[[SyncProgress], None] | None = None,
        count_total: bool = False,
    ) -> None:
        self.client = client
        self.cursors = cursor_store
        self.plan = _Plan(
            endpoints,
            division=_resolve_division(client, division),
            select=select,
            include_deletions=include_deletions,
            initial_timestamp=initial_timestamp,
            count_total=count_total,
        )
        self.on_progress = on_progress
        self.progress = SyncProgress(self.plan.division)

    def batches(self, report: SyncReport | None = None) -> BatchesT:
        """Yield batches; each one's cursor is saved when the next is requested (or the iteration ends).

        An iterator with the blocking client, an async iterator (``async for``) with the asyncio one. Stop early
        and the batch in hand is not accepted: the next run delivers it again."""
        # The client drives the stream with its own I/O (blocking calls or awaits); the decisions are all here.
        return cast(BatchesT, self.client._stream(self._run_stream(report if report is not None else SyncReport())))

    def _run_stream(self, report: SyncReport) -> Stream[SyncBatch]:
        """The whole run: for each stream, page from the saved cursor on, hand over each batch, and accept it
        (save its cursor) when the caller asks for the next one."""
        plan, client = self.plan, self.client
        for read in plan.reads():
            cursor = self.cursors.load(plan.division, read.stream)
            pager = client._pager(read.stream, plan.params(cursor, read.select, count=read.count), plan.division, None)
            while pager.request is not None:
                page = pager.accept((yield from client._flow(pager.request)))
                if page.number == 1 and read.count and page.count is not None:
                    self.progress.expected_rows = (self.progress.expected_rows or 0) + page.count
                for batch in plan.batches(read, page.rows, cursor, page.number):
                    cursor = batch.cursor
                    yield Emit(batch)
                    self._accept(batch, report)

    def _accept(self, batch: SyncBatch, report: SyncReport) -> None:
        self.cursors.save(batch.division, batch.stream, batch.cursor)
        key = (batch.division, batch.stream)
        report.rows[key] = report.rows.get(key, 0) + len(batch.rows)
        report.pages[key] = report.pages.get(key, 0) + 1
        progress = self.progress
        progress.stream = batch.stream
        progress.pages += 1
        if batch.kind == "deletions":
            progress.deletions += len(batch.rows)
        else:
            progress.rows += len(batch.rows)
        progress.rate_limits = self.client.rate_limits(batch.division)
        if self.on_progress is not None:
            self.on_progress(progress)


# --- the two engines: only how the consumer is called differs ---------------------------------------------------


class Sync(_SyncBase["ExactOnlineClient", Iterator[SyncBatch]]):
    """Incremental sync of sync endpoints in one division, on the blocking client.

    Iterate :meth:`batches` (a batch is accepted when you ask for the next one) or call :meth:`run` with a
    consumer function (a batch is accepted when the function returns).
    """

    def run(self, consumer: Callable[[SyncBatch], object]) -> SyncReport:
        """Deliver every batch to ``consumer``; a batch counts as accepted when the call returns."""
        report = SyncReport()
        for batch in self.batches(report):
            consumer(batch)
        return report


class AsyncSync(_SyncBase["AsyncExactOnlineClient", AsyncIterator[SyncBatch]]):
    """The asyncio form of :class:`Sync` (same plan, same cursor rules)."""

    async def run(self, consumer: Callable[[SyncBatch], Awaitable[object] | object]) -> SyncReport:
        """Deliver every batch to ``consumer`` (a plain or an async function); accepted when it returns."""
        report = SyncReport()
        async for batch in self.batches(report):
            outcome = consumer(batch)
            if inspect.isawaitable(outcome):
                await outcome
        return report


# --- several divisions at once, in both flavours ------------------------------------------------------------------


@overload
def sync_divisions(
    client: ExactOnlineClient,
    divisions: Iterable[int],
    endpoints: Sequence[str],
    consumer: Callable[[SyncBatch], object],
    *,
    cursor_store: CursorStore,
    select: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    include_deletions: bool = True,
    on_progress: Callable[[SyncProgress], None] | None = None,
) -> SyncReport: ...


@overload
def sync_divisions(
    client: AsyncExactOnlineClient,
    divisions: Iterable[int],
    endpoints: Sequence[str],
    consumer: Callable[[SyncBatch], Awaitable[object] | object],
    *,
    cursor_store: CursorStore,
    select: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    include_deletions: bool = True,
    on_progress: Callable[[SyncProgress], None] | None = None,
) -> Coroutine[Any, Any, SyncReport]: ...


def sync_divisions(
    client: ExactOnlineClient | AsyncExactOnlineClient,
    divisions: Iterable[int],
    endpoints: Sequence[str],
    consumer: Callable[[SyncBatch], Any],
    *,
    cursor_store: CursorStore,
    select: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    include_deletions: bool = True,
    on_progress: Callable[[SyncProgress], None] | None = None,
) -> SyncReport | Coroutine[Any, Any, SyncReport]:
    """Sync several divisions at once. Each division has its own rate-limit budget at Exact, and the client paces
    each one separately, so running them side by side uses every division's limit fully without drawing 429s.

    With an :class:`~exact_online_sdk.client.AsyncExactOnlineClient` it returns a coroutine (``await`` it): one
    :class:`AsyncSync` per division as concurrent tasks. With an :class:`~exact_online_sdk.client.ExactOnlineClient`
    it runs one :class:`Sync` per division in worker threads and returns when all are done; ``consumer`` and
    ``on_progress`` are then called by one thread at a time, so a sink that is not thread-safe works as is.
    Either way the reports are merged, and the first failure is raised once every division has stopped.
    """
    engines = _DivisionRuns(divisions, endpoints, cursor_store, select, include_deletions, on_progress)
    if _is_async(client):
        return engines.run_async(cast("AsyncExactOnlineClient", client), consumer)
    return engines.run_blocking(cast("ExactOnlineClient", client), consumer)


def _is_async(client: object) -> bool:
    from .client import AsyncExactOnlineClient

    return isinstance(client, AsyncExactOnlineClient)


@dataclass(frozen=True, slots=True)
class _DivisionRuns:
    """One engine per division, the same settings for each; both flavours build and merge through here."""

    divisions: Iterable[int]
    endpoints: Sequence[str]
    cursor_store: CursorStore
    select: Mapping[str, Sequence[str]] | Sequence[str] | None
    include_deletions: bool
    on_progress: Callable[[SyncProgress], None] | None

    def engines(
        self, kind: type[EngineT], client: Any, on_progress: Callable[[SyncProgress], None] | None
    ) -> list[EngineT]:
        return [
            kind(
                client,
                self.endpoints,
                cursor_store=self.cursor_store,
                division=division,
                select=self.select,
                include_deletions=self.include_deletions,
                on_progress=on_progress,
            )
            for division in self.divisions
        ]

    async def run_async(self, client: AsyncExactOnlineClient, consumer: Callable[[SyncBatch], Any]) -> SyncReport:
        runs = [engine.run(consumer) for engine in self.engines(AsyncSync, client, self.on_progress)]
        return _merged(await asyncio.gather(*runs, return_exceptions=True))

    def run_blocking(self, client: ExactOnlineClient, consumer: Callable[[SyncBatch], object]) -> SyncReport:
        one_at_a_time = threading.Lock()

        def deliver(batch: SyncBatch) -> None:
            with one_at_a_time:
                consumer(batch)

        def report_progress(progress: SyncProgress) -> None:
            if self.on_progress is not None:
                with one_at_a_time:
                    self.on_progress(progress)

        engines = self.engines(Sync, client, report_progress if self.on_progress else None)
        if not engines:
            return SyncReport()
        with ThreadPoolExecutor(max_workers=len(engines), thread_name_prefix="exact-sync") as pool:
            futures = [pool.submit(engine.run, deliver) for engine in engines]
            wait(futures)
        return _merged(future.exception() or future.result() for future in futures)


EngineT = TypeVar("EngineT", Sync, AsyncSync)


def _merged(outcomes: Iterable[SyncReport | BaseException]) -> SyncReport:
    """All reports added up; the first division's failure (in the order given) once every division has stopped."""
    total = SyncReport()
    for outcome in list(outcomes):
        if isinstance(outcome, BaseException):
            raise outcome
        total.merge(outcome)
    return total
