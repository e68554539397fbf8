"""Pacing precision of one process, measured on the emulator over loopback on a virtual clock.

A call costs no virtual time (the clock waits for every reader to sleep), so elapsed time is pacing alone: the
limit-imposed optimum is exact (each division's calls in the minute holding its first call, then a full budget in each
following clock-aligned minute), and the ratio says how much of it the waits give away. The benchmark measured this on
a real-time-scaled clock, where the emulator's own time per call counted against the SDK (0.86x, 1.27x).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk._core.ratelimit import SAFETY_MARGIN
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.scale.virtual_time import SharedVirtualClock

from .scenario import T0

pytestmark = pytest.mark.slow


def optimum(first: float, calls: int, limit: int) -> float:
    """The least time ``calls`` calls take when the first is made at ``first`` (calls themselves instantaneous)."""
    windows = math.ceil(calls / limit)
    return (math.floor(first / 60) + windows - 1) * 60 - first


def test_twenty_divisions_side_by_side_reach_the_limit_imposed_maximum() -> None:
    clock = SharedVirtualClock(T0 + 17.25)  # mid-minute, at a quarter second: no lucky alignment
    divisions = tuple(range(1001, 1021))
    limit, calls = 10, 25  # three windows per division; the limits come from the headers
    config = EmulatorConfig(
        clock=clock, divisions=divisions, table_rows={"crm/Accounts": 60 * calls}, rows=1, minutely_limit=limit
    )
    with run_emulator(config) as emu:
        client = ExactOnlineClient(access_token=emu.token(), base_url=emu.base_url, clock=clock)
        errors: list[BaseException] = []

        def read(division: int) -> None:
            try:
                for _ in client.iter_pages("crm/Accounts", {"$select": "ID"}, division=division):
                    pass
            except BaseException as exc:  # reported below
                errors.append(exc)

        with clock.actor():  # start every reader before time may move
            threads = [threading.Thread(target=_as_actor, args=(clock, clock.reserve(), read, d)) for d in divisions]
            for thread in threads:
                thread.start()
        for thread in threads:
            thread.join(timeout=300)
        log = [e for e in emu.control.requests() if "/api/v1/" in e["path"]]
    assert errors == []
    assert sum(1 for e in log if e["status"] == 429) == 0
    first = min(e["time"] for e in log)
    last = max(e["time"] for e in log)
    assert len(log) == len(divisions) * calls
    ratio = optimum(first, calls, limit) / (last - first)  # rate / the limit-imposed maximum rate
    assert 0.99 <= ratio <= 1.0, ratio  # (0.9971 here; reading the latest Date second with a 0.5 s margin: 0.988)
    # Each wait ended after the reset (no 429s) and no later than the answers can tell: the calls of a window all
    # come back in one Date second (at .25 here), so the bound stays a quarter second below Exact's clock.
    for division in divisions:
        starts = _window_starts([e["time"] for e in log if e["division"] == division])
        assert all(0 <= s % 60 <= 0.25 + SAFETY_MARGIN + 0.001 for s in starts[1:]), starts


def test_a_thousand_row_sync_extraction_takes_the_limit_imposed_minimum() -> None:
    clock = SharedVirtualClock(T0 + 0.05)
    limit, pages = 10, 30
    config = EmulatorConfig(
        clock=clock,
        divisions=(1001,),
        rows=1,
        table_rows={"financialtransaction/TransactionLines": 1000 * pages},
        minutely_limit=limit,
    )
    with run_emulator(config) as emu:
        client = ExactOnlineClient(access_token=emu.token(), base_url=emu.base_url, clock=clock, division=1001)
        select = "Timestamp,ID,EntryNumber,Date,GLAccount,Account,AmountDC,Description"
        rows = sum(
            len(page.rows)
            for page in client.iter_pages(
                "sync/Financial/TransactionLines", {"$filter": "Timestamp gt 1L", "$select": select}
            )
        )
        log = [e for e in emu.control.requests() if "/api/v1/" in e["path"]]
    assert rows == 1000 * pages
    assert len(log) == pages
    assert sum(1 for e in log if e["status"] == 429) == 0
    first, last = log[0]["time"], log[-1]["time"]
    ratio = (last - first) / optimum(first, pages, limit)
    assert 1.0 <= ratio <= 1.005, ratio  # (1.0008 here; the latest Date second with a 0.5 s margin: 1.0088)


def _as_actor(clock: SharedVirtualClock, slot: int, fn: Any, *args: Any) -> None:
    with clock.actor(slot):
        fn(*args)


def _window_starts(times: list[float]) -> list[float]:
    starts: dict[int, float] = {}
    for at in sorted(times):
        starts.setdefault(math.floor(at / 60), at)
    return [starts[m] for m in sorted(starts)]
