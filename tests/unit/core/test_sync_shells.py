"""Sync and AsyncSync decide the same: one table of incremental-sync cases, both engines, identical traces.

The fake speaks Exact's sync wire format over httpx.MockTransport: ``$filter=Timestamp gt {n}L``, rows in
Timestamp order, ``__next`` with ``$skiptoken``, ``$inlinecount=allpages`` and ``sync/Deleted`` with EntityType.
A trace holds every request, every batch handed over, every cursor save and every progress report, in order.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk._core.ratelimit import reset_shared_budgets
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.sync import (
    AsyncSync,
    MemoryCursorStore,
    Sync,
    SyncBatch,
    SyncProgress,
    SyncReport,
    sync_divisions,
)

from .conftest import HOST

T0 = 1_767_225_600.0
PAGE = 3
ACCOUNTS, INVOICES, DELETED = "sync/CRM/Accounts", "sync/SalesInvoice/SalesInvoices", "sync/Deleted"


def _guid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def _data(division: int) -> dict[str, list[dict[str, Any]]]:
    base = division * 1000
    return {
        ACCOUNTS: [{"ID": _guid(base + i), "Name": f"A{i}", "Timestamp": str(base + 10 * i)} for i in range(1, 8)],
        INVOICES: [{"InvoiceID": _guid(base + 100 + i), "Timestamp": base + 5 * i} for i in range(1, 5)],
        DELETED: [
            {"EntityKey": _guid(base + 1), "EntityType": 2, "Timestamp": str(base + 500)},
            {"EntityKey": _guid(base + 2), "EntityType": 13, "Timestamp": str(base + 510)},
            {"EntityKey": _guid(base + 3), "EntityType": 20, "Timestamp": str(base + 520)},  # an unknown type
            {"EntityKey": _guid(base + 4), "EntityType": 2, "Timestamp": str(base + 530)},
        ],
    }


class SyncExact:
    """The sync endpoints of a few divisions. ``broken`` names an endpoint whose second row lacks Timestamp."""

    def __init__(self, divisions: tuple[int, ...] = (1001,), broken: str | None = None) -> None:
        self.data = {d: _data(d) for d in divisions}
        if broken:
            for rows in self.data.values():
                rows[broken][1].pop("Timestamp")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = urlsplit(str(request.url))
        match = re.fullmatch(r"/api/v1/(\d+)/(sync/.+)", parts.path)
        assert match, parts.path
        division, endpoint = int(match.group(1)), match.group(2)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        since = int(re.fullmatch(r"Timestamp gt (\d+)L", query["$filter"]).group(1))  # type: ignore[union-attr]
        rows = [r for r in self.data[division][endpoint] if int(r.get("Timestamp", since + 1)) > since]
        skip = int(query.get("$skiptoken", 0))
        d: dict[str, Any] = {"results": rows[skip : skip + PAGE]}
        if skip + PAGE < len(rows):
            d["__next"] = f"{HOST}{parts.path}?{parts.query.split('&$skiptoken')[0]}&$skiptoken={skip + PAGE}"
        if query.get("$inlinecount") == "allpages":
            d["__count"] = str(len(rows))
        return httpx.Response(200, content=json.dumps({"d": d}).encode(), headers={"Content-Type": "application/json"})


class RecordingCursors(MemoryCursorStore):
    def __init__(self, trace: list[Any], preset: dict[tuple[int, str], int] | None = None) -> None:
        super().__init__()
        self.trace = trace
        for (division, stream), value in (preset or {}).items():
            super().save(division, stream, value)

    def save(self, division: int, stream: str, timestamp: int) -> None:
        self.trace.append(("save", division, stream, timestamp))
        super().save(division, stream, timestamp)


@dataclass
class Case:
    name: str
    endpoints: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    preset: dict[tuple[int, str], int] = field(default_factory=dict)
    broken: str | None = None
    fail_on: int | None = None  # the consumer raises on this batch (1-based)
    stop_after: int | None = None  # iterate batches() and stop after this many


CASES = [
    Case("one-endpoint-with-deletions", [ACCOUNTS]),
    Case("two-endpoints-deletions-split-by-type", [ACCOUNTS, INVOICES], {"select": {ACCOUNTS: ["ID", "Name"]}}),
    Case(
        "resume-from-saved-cursors", [ACCOUNTS, INVOICES], preset={(1001, ACCOUNTS): 1001040, (1001, DELETED): 1001505}
    ),
    Case("count-total", [ACCOUNTS, INVOICES], {"count_total": True, "include_deletions": False}),
    Case("nothing-new", [ACCOUNTS], preset={(1001, ACCOUNTS): 2_000_000, (1001, DELETED): 2_000_000}),
    Case("row-without-timestamp", [ACCOUNTS], {"select": ["ID"]}, broken=ACCOUNTS),
    Case("consumer-fails-on-the-second-batch", [ACCOUNTS], fail_on=2),
    Case("iterator-stops-after-two-batches", [ACCOUNTS, INVOICES], stop_after=2),
    Case("initial-timestamp", [INVOICES], {"initial_timestamp": 1001010}),
]


def _batch(batch: SyncBatch) -> tuple[Any, ...]:
    keys = [row.get("ID") or row.get("InvoiceID") or row.get("EntityKey") for row in batch.rows]
    return ("batch", batch.division, batch.kind, batch.endpoint, batch.stream, batch.page, batch.cursor, keys)


def _progress(p: SyncProgress) -> tuple[Any, ...]:
    return ("progress", p.division, p.stream, p.rows, p.deletions, p.pages, p.expected_rows)


class ConsumerFailed(Exception):
    pass


def _setup(case: Case) -> tuple[list[Any], ManualClock, SyncExact, RecordingCursors, list[httpx.Request]]:
    reset_shared_budgets()
    trace: list[Any] = []
    requests: list[httpx.Request] = []
    fake = SyncExact(broken=case.broken)
    return trace, ManualClock(T0), fake, RecordingCursors(trace, case.preset), requests


def _transport(fake: SyncExact, requests: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return fake(request)

    return httpx.MockTransport(handler)


def _consumer(case: Case, trace: list[Any]) -> Callable[[SyncBatch], None]:
    def consume(batch: SyncBatch) -> None:
        trace.append(_batch(batch))
        if case.fail_on is not None and sum(1 for t in trace if t[0] == "batch") == case.fail_on:
            raise ConsumerFailed("warehouse unavailable")

    return consume


def _result(trace: list[Any], requests: list[httpx.Request], outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, BaseException):
        outcome = (type(outcome).__name__, str(outcome))
    elif isinstance(outcome, SyncReport):
        outcome = (sorted(outcome.rows.items()), sorted(outcome.pages.items()))
    return {"requests": [str(r.url) for r in requests], "trace": trace, "outcome": outcome}


def run_blocking(case: Case) -> dict[str, Any]:
    trace, clock, fake, cursors, requests = _setup(case)
    client = ExactOnlineClient(access_token="t", division=1001, transport=_transport(fake, requests), clock=clock)
    outcome: Any = None
    try:
        engine = Sync(
            client,
            case.endpoints,
            cursor_store=cursors,
            on_progress=lambda p: trace.append(_progress(p)),
            **case.options,
        )
        if case.stop_after is None:
            outcome = engine.run(_consumer(case, trace))
        else:
            report = SyncReport()
            for number, batch in enumerate(engine.batches(report), 1):
                trace.append(_batch(batch))
                if number == case.stop_after:
                    break
            outcome = report
    except Exception as exc:
        outcome = exc
    return _result(trace, requests, outcome)


def run_async(case: Case) -> dict[str, Any]:
    trace, clock, fake, cursors, requests = _setup(case)

    async def main() -> Any:
        async with AsyncExactOnlineClient(
            access_token="t", division=1001, transport=_transport(fake, requests), clock=clock
        ) as client:
            try:
                engine = AsyncSync(
                    client,
                    case.endpoints,
                    cursor_store=cursors,
                    on_progress=lambda p: trace.append(_progress(p)),
                    **case.options,
                )
                if case.stop_after is None:
                    return await engine.run(_consumer(case, trace))
                report = SyncReport()
                number = 0
                batches = engine.batches(report)
                async for batch in batches:
                    trace.append(_batch(batch))
                    number += 1
                    if number == case.stop_after:
                        break
                await batches.aclose()  # type: ignore[attr-defined]
                return report
            except Exception as exc:
                return exc

    return _result(trace, requests, asyncio.run(main()))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_blocking_and_async_engines_behave_identically(case: Case) -> None:
    blocking, asyncio_ = run_blocking(case), run_async(case)
    assert blocking == asyncio_
    assert blocking["requests"], "every case asks Exact at least once"


def test_the_table_exercises_the_decisions() -> None:
    by_name = {c.name: run_blocking(c) for c in CASES}

    one = by_name["one-endpoint-with-deletions"]
    batches = [t for t in one["trace"] if t[0] == "batch"]
    assert [(b[2], b[3], b[5], b[6]) for b in batches] == [
        ("changes", ACCOUNTS, 1, 1001030),
        ("changes", ACCOUNTS, 2, 1001060),
        ("changes", ACCOUNTS, 3, 1001070),
        ("deletions", ACCOUNTS, 1, 1001520),  # the invoice deletion is not ours; the unknown type is skipped
        ("deletions", ACCOUNTS, 2, 1001530),
    ]
    # a cursor is saved only after its batch was handed over, and before the next page is asked for
    saves = [t for t in one["trace"] if t[0] == "save"]
    assert saves[0] == ("save", 1001, ACCOUNTS, 1001030)
    assert one["trace"].index(saves[0]) == one["trace"].index(batches[0]) + 1
    assert one["outcome"] == (
        [((1001, ACCOUNTS), 7), ((1001, DELETED), 2)],
        [((1001, ACCOUNTS), 3), ((1001, DELETED), 2)],
    )

    split = [
        t for t in by_name["two-endpoints-deletions-split-by-type"]["trace"] if t[0] == "batch" and t[2] == "deletions"
    ]
    assert [(b[3], b[7]) for b in split] == [
        (ACCOUNTS, [_guid(1001001)]),
        (INVOICES, [_guid(1001002)]),
        (ACCOUNTS, [_guid(1001004)]),
    ]

    resumed = by_name["resume-from-saved-cursors"]["requests"]
    assert "Timestamp%20gt%201001040L" in resumed[0] or "Timestamp gt 1001040L" in resumed[0]

    counted = by_name["count-total"]["trace"]
    assert [t[6] for t in counted if t[0] == "progress"] == [7, 7, 7, 11, 11]

    assert by_name["row-without-timestamp"]["outcome"][0] == "SyncError"
    assert [t for t in by_name["row-without-timestamp"]["trace"] if t[0] == "save"] == []

    failed = by_name["consumer-fails-on-the-second-batch"]
    assert failed["outcome"] == ("ConsumerFailed", "warehouse unavailable")
    assert [t for t in failed["trace"] if t[0] == "save"] == [("save", 1001, ACCOUNTS, 1001030)]
    assert len(failed["requests"]) == 2  # page 3 is never asked for

    stopped = by_name["iterator-stops-after-two-batches"]
    assert [t for t in stopped["trace"] if t[0] == "save"] == [("save", 1001, ACCOUNTS, 1001030)]

    nothing = by_name["nothing-new"]
    assert [t[7] for t in nothing["trace"] if t[0] == "batch"] == [[], []]

    initial = by_name["initial-timestamp"]["trace"]
    assert [t[7] for t in initial if t[0] == "batch" and t[2] == "changes"] == [[_guid(1001103), _guid(1001104)]]


def test_sync_divisions_in_both_flavours_gives_the_same_report() -> None:
    fake = SyncExact(divisions=(1001, 1002, 1003))

    def blocking() -> tuple[SyncReport, list[tuple[Any, ...]]]:
        reset_shared_budgets()
        got: list[SyncBatch] = []
        client = ExactOnlineClient(access_token="t", transport=httpx.MockTransport(fake), clock=ManualClock(T0))
        report = sync_divisions(client, [1001, 1002, 1003], [ACCOUNTS], got.append, cursor_store=MemoryCursorStore())
        return report, sorted(_batch(b) for b in got)

    def asynchronous() -> tuple[SyncReport, list[tuple[Any, ...]]]:
        reset_shared_budgets()
        got: list[SyncBatch] = []

        async def main() -> SyncReport:
            async with AsyncExactOnlineClient(
                access_token="t", transport=httpx.MockTransport(fake), clock=ManualClock(T0)
            ) as client:
                return await sync_divisions(
                    client, [1001, 1002, 1003], [ACCOUNTS], got.append, cursor_store=MemoryCursorStore()
                )

        return asyncio.run(main()), sorted(_batch(b) for b in got)

    (b_report, b_batches), (a_report, a_batches) = blocking(), asynchronous()
    assert b_batches == a_batches
    assert b_report.rows == a_report.rows
    assert b_report.pages == a_report.pages
    assert b_report.total_rows == 3 * (7 + 2)
    assert {division for division, _ in b_report.rows} == {1001, 1002, 1003}


def test_blocking_sync_divisions_calls_the_consumer_one_thread_at_a_time() -> None:
    import threading
    import time

    fake = SyncExact(divisions=(1001, 1002, 1003, 1004))
    inside = 0
    overlaps = 0
    lock = threading.Lock()

    def slow_sink(batch: SyncBatch) -> None:
        nonlocal inside, overlaps
        with lock:
            inside += 1
            overlaps += inside > 1
        time.sleep(0.001)  # widen the window an unserialised sink would be entered twice in (not a pacing sleep)
        with lock:
            inside -= 1

    client = ExactOnlineClient(access_token="t", transport=httpx.MockTransport(fake), clock=ManualClock(T0))
    report = sync_divisions(client, [1001, 1002, 1003, 1004], [ACCOUNTS], slow_sink, cursor_store=MemoryCursorStore())
    assert report.total_rows == 4 * 9
    assert overlaps == 0


def test_a_failing_division_is_raised_after_the_others_finished() -> None:
    fake = SyncExact(divisions=(1001, 1002))
    fake.data[1001][ACCOUNTS][1].pop("Timestamp")
    cursors = MemoryCursorStore()
    client = ExactOnlineClient(access_token="t", transport=httpx.MockTransport(fake), clock=ManualClock(T0))
    from exact_online_sdk.sync import SyncError

    with pytest.raises(SyncError, match="no Timestamp"):
        sync_divisions(client, [1001, 1002], [ACCOUNTS], lambda b: None, cursor_store=cursors, select=["ID"])
    assert cursors.load(1002, DELETED) == 1002530  # division 1002 ran to the end
