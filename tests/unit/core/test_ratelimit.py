"""Rate limits: all six headers, proactive pacing, skew, the daily stop, 429 handling and the shared budget."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk._core.ratelimit import (
    InMemoryRateBudget,
    RateBudgetBackend,
    RateLimitSnapshot,
    parse_rate_limit_headers,
    set_budget_factory,
    shared_budget,
)
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import DailyRateLimitExceeded, RateLimitError

from .conftest import DIVISION, HOST, FakeExact, paged


def make(exact: FakeExact, **kw: object) -> ExactOnlineClient:
    return ExactOnlineClient(
        access_token="at-123456",
        division=DIVISION,
        transport=httpx.MockTransport(exact),
        clock=exact.clock,
        client_id="app-1",
        **kw,  # type: ignore[arg-type]
    )


def test_parses_all_six_headers_with_millisecond_resets() -> None:
    h = parse_rate_limit_headers(
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": "1638489600000",
            "x-ratelimit-minutely-limit": "60",
            "x-ratelimit-minutely-remaining": "59",
            "x-ratelimit-minutely-reset": "1638447360000",
        }
    )
    assert (h.daily_limit, h.daily_remaining, h.daily_reset) == (5000, 4999, 1638489600.0)
    assert (h.minutely_limit, h.minutely_remaining, h.minutely_reset) == (60, 59, 1638447360.0)
    assert parse_rate_limit_headers({"x-ratelimit-remaining": "junk"}).daily_remaining is None


def test_long_read_never_draws_a_429_and_waits_for_resets(exact: FakeExact) -> None:
    exact.route("sync/CRM/Accounts", paged(200 * 60, page_size=60, base=f"{HOST}/api/v1/{DIVISION}/sync/CRM/Accounts"))
    start = exact.clock.now()
    n = sum(1 for _ in make(exact).iter_rows("sync/CRM/Accounts"))
    assert n == 12000
    assert exact.rejected == 0
    assert len(exact.requests) == 200
    # 200 calls at 60 per clock-aligned minute need at least three resets (but not much more).
    elapsed = exact.clock.now() - start
    assert 180 <= elapsed < 240


def test_pacing_corrects_for_server_clock_skew(clock: ManualClock) -> None:
    # Exact's clock is 25 s ahead: its minute resets 25 s earlier on our clock than a naive reading says.
    exact = FakeExact(clock, skew=25.0, minutely_limit=5)
    exact.route("crm/Accounts", paged(60 * 12, page_size=60))
    list(make(exact).iter_rows("crm/Accounts"))
    assert exact.rejected == 0
    assert len(exact.requests) == 12
    # the first window (server 00:00:25 -> 00:01:00) closes after 35 local seconds, not 60
    assert clock.now() - 1_767_225_600.0 < 35 + 60 + 5 + 3


def test_daily_limit_spent_raises_at_once_with_reset(exact: FakeExact) -> None:
    exact.daily_limit = 3
    exact.route("crm/Accounts", {"d": {"results": []}})
    client = make(exact)
    for _ in range(3):
        client.get("crm/Accounts")
    sent = len(exact.requests)
    with pytest.raises(DailyRateLimitExceeded) as info:
        client.get("crm/Accounts")
    assert len(exact.requests) == sent  # refused before sending
    err = info.value
    assert err.reset_at == pytest.approx(1_767_225_600.0 + 86400 + 0.5)
    assert err.limit == "daily"
    assert err.method == "GET"
    assert err.url
    assert "crm/Accounts" in err.url
    assert "resets at 2026-01-02T00:00:00Z" in str(err)
    # the next day the budget is back
    exact.clock.advance(86401)
    assert client.get("crm/Accounts") == []


def test_daily_429_from_exact_is_typed(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    exact.daily_limit = 0  # another app/process spent it: the 429 carries only the daily headers
    with pytest.raises(DailyRateLimitExceeded) as info:
        make(exact).get("crm/Accounts")
    assert info.value.status_code == 429
    assert info.value.reset_at == pytest.approx(1_767_225_600.0 + 86400 + 0.5)
    assert len(exact.requests) == 1


def test_minutely_429_waits_for_reset_then_retries_even_post(exact: FakeExact) -> None:
    exact.route("crm/Accounts", lambda r: httpx.Response(201, json={"d": {"ID": "new"}}))
    exact.clock.advance(30)
    # Someone else used the minute: Exact answers 429 with only the minutely headers.
    exact.counts[("m", int(exact.clock.now() // 60))] = 60
    assert make(exact).post("crm/Accounts", {"Name": "x"}) == {"ID": "new"}
    assert [r.method for r in exact.requests] == ["POST", "POST"]
    assert exact.clock.now() == pytest.approx(1_767_225_600.0 + 60.5)


def test_429_without_headers_waits_for_next_minute(exact: FakeExact) -> None:
    answers = iter([httpx.Response(429), httpx.Response(200, json={"d": {"results": []}})])
    client = ExactOnlineClient(
        access_token="at-123456",
        division=DIVISION,
        transport=httpx.MockTransport(lambda r: next(answers)),
        clock=exact.clock,
    )
    exact.clock.advance(10)
    assert client.get("crm/Accounts") == []
    assert exact.clock.now() == pytest.approx(1_767_225_600.0 + 60.5)


def test_429_retry_after_is_honoured(exact: FakeExact) -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"d": {"results": []}})]
    )
    client = ExactOnlineClient(
        access_token="t", division=1, transport=httpx.MockTransport(lambda r: next(answers)), clock=exact.clock
    )
    client.get("crm/Accounts")
    assert exact.clock.now() - 1_767_225_600.0 >= 7


def test_budget_is_shared_by_clients_of_the_same_app_and_division(exact: FakeExact) -> None:
    exact.minutely_limit = 10
    exact.route("crm/Accounts", {"d": {"results": []}})
    a, b = make(exact), make(exact)
    for i in range(10):
        (a if i % 2 else b).get("crm/Accounts")
    assert a.rate_limits().minutely_remaining == 0
    assert b.rate_limits() == a.rate_limits()
    b.get("crm/Accounts")  # paces instead of drawing a 429
    assert exact.rejected == 0
    assert shared_budget((HOST, "app-1", DIVISION)) is shared_budget((HOST, "app-1", DIVISION))
    assert shared_budget((HOST, "app-1", 1)) is not shared_budget((HOST, "app-1", DIVISION))
    assert make(exact).rate_limits(division=999) == RateLimitSnapshot()


def test_threads_share_one_budget_without_429(clock: ManualClock) -> None:
    exact = FakeExact(clock, minutely_limit=20)
    exact.route("crm/Accounts", {"d": {"results": []}})
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            return exact(request)

    client = ExactOnlineClient(access_token="t", division=DIVISION, transport=httpx.MockTransport(handler), clock=clock)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                client.get("crm/Accounts")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(exact.requests) == 60
    assert exact.rejected == 0
    assert client.rate_limits().in_flight == 0


class CountingBackend:
    """A stand-in for a cross-process budget (Redis, DynamoDB...): records the protocol calls."""

    def __init__(self) -> None:
        self.inner = InMemoryRateBudget()
        self.calls: list[str] = []

    def acquire(self, now: float) -> float:
        self.calls.append("acquire")
        return self.inner.acquire(now)

    def release(self, now: float, headers: Mapping[str, str] | None, *, rejected: bool = False) -> None:
        self.calls.append("release")
        self.inner.release(now, headers, rejected=rejected)

    def snapshot(self, now: float) -> RateLimitSnapshot:
        return self.inner.snapshot(now)


def test_cross_process_budget_interface(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    backend = CountingBackend()
    assert isinstance(backend, RateBudgetBackend)
    set_budget_factory(lambda key: backend)
    try:
        make(exact).get("crm/Accounts")
    finally:
        set_budget_factory(None)
    assert backend.calls == ["acquire", "release"]
    assert backend.snapshot(exact.clock.now()).minutely_remaining == 59


def test_wait_beyond_deadline_raises_rate_limit_error(exact: FakeExact) -> None:
    from exact_online_sdk import RetryPolicy

    exact.daily_limit = 10**6
    exact.minutely_limit = 1
    exact.route("crm/Accounts", {"d": {"results": []}})
    client = make(exact, retry=RetryPolicy(deadline=5))
    client.get("crm/Accounts")
    with pytest.raises(RateLimitError, match="beyond the retry deadline"):
        client.get("crm/Accounts")
    assert len(exact.requests) == 1


def test_server_clock_behind_ours_does_not_cause_early_sends(clock: ManualClock) -> None:
    # Exact's clock 25 s behind: a naive reading of the reset would send 25 s too early and draw 429s.
    exact = FakeExact(clock, skew=-25.0, minutely_limit=5)
    exact.route("crm/Accounts", paged(60 * 12, page_size=60))
    list(make(exact).iter_rows("crm/Accounts"))
    assert exact.rejected == 0
    assert len(exact.requests) == 12
