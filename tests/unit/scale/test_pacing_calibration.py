"""Pacing precision: the wait for a minute window ends milliseconds after Exact reopened it, never before.

Exact's resets are on its own clock; the SDK learns where that clock stands from every answer (the ``Date`` second
and the millisecond start of the minute window). These tests run a long read against a fake Exact whose requests
take time (so answers arrive at every sub-second phase) and whose clock disagrees with ours.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk._core.ratelimit import (
    SAFETY_MARGIN,
    HeaderLimits,
    ServerClock,
    reset_shared_budgets,
)
from exact_online_sdk.clock import ManualClock

from .exact_timing import TimedExact

T0 = 1_767_225_600.0 + 17.25  # mid-minute, at a quarter second: no lucky alignment


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    reset_shared_budgets()
    yield
    reset_shared_budgets()


def read_minutes(exact: TimedExact, calls: int) -> None:
    with ExactOnlineClient(
        access_token="t", division=1, transport=httpx.MockTransport(exact), clock=exact.clock, client_id="app"
    ) as client:
        for _ in range(calls):
            client.get("crm/Accounts", {"$top": 1})


@pytest.mark.parametrize("skew", [0.0, 0.73, -0.41, 25.6])
def test_first_call_of_each_minute_lands_right_after_the_reset(skew: float) -> None:
    # 20 calls a minute (limits come from the headers): the same precision question as 60, at a third of the cost.
    exact = TimedExact(ManualClock(T0), limiter_skew=skew, minutely_limit=20)
    read_minutes(exact, 20 * 8)
    assert exact.rejected == 0
    late = exact.lateness()
    assert len(late) >= 7
    # A wait ends a little after the reset: the margin plus what the answers could not pin down (the way back of
    # the best answer, and the sub-second phases no answer happened to hit). Reading the latest Date second alone
    # left 0.5-1.5 s here.
    assert all(0 <= x <= SAFETY_MARGIN + 0.2 for x in late), late


def test_a_sustained_read_uses_the_whole_budget_of_every_minute() -> None:
    exact = TimedExact(ManualClock(T0), limiter_skew=0.37, minutely_limit=20)
    start = exact.clock.now()
    read_minutes(exact, 20 * 10)
    assert exact.rejected == 0
    # 200 calls = 10 windows: the first starts mid-minute, the last one ends with its 20th call.
    elapsed = exact.clock.now() - start
    first_window_left = 60 - (start + 0.37) % 60
    optimum = first_window_left + 8 * 60 + 20 * 0.27  # the last window's calls take ~0.27 s each here
    assert elapsed / optimum <= 1.02


def test_date_stamped_by_a_server_ahead_of_the_limiter_costs_one_429_then_none() -> None:
    # The front end stamping Date runs 0.4 s ahead of the clock that counts calls: Date alone would send early.
    exact = TimedExact(ManualClock(T0), limiter_skew=0.0, date_skew=0.4, minutely_limit=20)
    read_minutes(exact, 20 * 8)
    assert exact.rejected <= 1
    assert all(0 <= x <= SAFETY_MARGIN + 0.2 for x in exact.lateness()[1:])


def test_bursts_at_one_phase_are_never_early_and_at_most_a_date_second_late() -> None:
    # Near-instant calls: a window's calls all come back in the same Date second, so the answers cannot say more
    # than that second: each wait ends within one second of the reset, never before it.
    exact = TimedExact(ManualClock(T0), limiter_skew=0.4, latency=(0.001, 0.003), minutely_limit=20)
    read_minutes(exact, 20 * 6)
    assert exact.rejected == 0
    assert all(0 <= x <= 1.0 + SAFETY_MARGIN for x in exact.lateness())


def test_server_clock_keeps_the_tightest_recent_lower_bound() -> None:
    clock = ServerClock()
    assert clock.offset(0.0) == 0.0
    assert not clock.calibrated
    clock.observe(1000.0, HeaderLimits(), date_skew=-0.9)
    clock.observe(1001.0, HeaderLimits(), date_skew=-0.2)
    clock.observe(1002.0, HeaderLimits(), date_skew=-0.6)
    assert clock.offset(1002.0) == pytest.approx(-0.2)
    # A minute window that started just before the answer is a tighter bound than its Date second.
    clock.observe(1003.0, HeaderLimits(minutely_remaining=59, minutely_reset=1003.05 + 60), date_skew=-0.7)
    assert clock.offset(1003.0) == pytest.approx(0.05)
    assert clock.to_local(1080.0, 1003.0) == pytest.approx(1080.0 - 0.05 + SAFETY_MARGIN)
    # A broken header (a window starting seconds after its own Date second) is ignored.
    clock.observe(1004.0, HeaderLimits(minutely_remaining=1, minutely_reset=1004.0 + 60 + 30), date_skew=0.0)
    assert clock.offset(1004.0) == pytest.approx(0.05)


def test_server_clock_follows_a_stepped_clock_within_ten_minutes() -> None:
    clock = ServerClock()
    clock.observe(0.0, HeaderLimits(), date_skew=5.0)
    for t in range(1, 700, 10):  # our clock was stepped forward 5 s: Exact now looks 5 s behind where it was
        clock.observe(float(t), HeaderLimits(), date_skew=0.0)
    assert clock.offset(700.0) == pytest.approx(0.0)


def test_a_429_in_a_window_believed_over_caps_the_bound() -> None:
    clock = ServerClock()
    clock.observe(100.0, HeaderLimits(), date_skew=0.4)
    assert clock.server_now(119.7) >= 120.0
    clock.ran_ahead(119.7, 120.0)  # Exact still counted the window ending at 120: its limiter is behind
    assert clock.server_now(119.7) < 120.0
    assert clock.to_local(180.0, 150.0) > 180.0 - 0.4
    clock.observe(150.0, HeaderLimits(), date_skew=0.4)  # later Date seconds cannot lift it over the cap
    assert clock.offset(150.0) <= 0.3 - SAFETY_MARGIN + 1e-9
