"""Issue 12, "What was found": each defect of the token chain under real faults, at the refresher's boundary
(moto in-process, a rule-keeping token endpoint, one ManualClock)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from exact_online_sdk.auth import ExactOnlineAuth, ReadOnlyRefreshRefused, ReadOnlyTokenStorage
from exact_online_sdk.auth.oauth import OAuthEndpoint, TokenAnswer
from exact_online_sdk.auth.timebase import ServerClock
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws import metrics_names as m
from exact_online_sdk.aws.lease import MemoryCallBook
from exact_online_sdk.aws.refresher import RecordingMetrics, RefreshFailed, RefreshPolicy, TokenRefresher
from exact_online_sdk.aws.rescue import RescueRecord, RescueStore
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock

from ..auth.fake_exact import FakeExact
from .conftest import RESCUE, SLOTS
from .fakes import AwsFaults, FakeExactTokens


@pytest.fixture
def exact(clock: ManualClock) -> FakeExactTokens:
    return FakeExactTokens(clock)


def writer_store(sm: Any, clock: Any) -> SecretsManagerTokenStorage:
    return SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)


def refresher(sm: Any, clock: Any, endpoint: Any, **kw: Any) -> TokenRefresher:
    return TokenRefresher(
        writer_store(sm, clock),
        endpoint,
        clock=clock,
        metrics=RecordingMetrics(),
        rescue=RescueStore(RESCUE, client=sm, clock=clock),
        **kw,
    )


def seed(sm: Any, clock: ManualClock, exact: FakeExactTokens, **changes: Any) -> Token:
    token = exact.first_token().replace(chain_id="chain-1", **changes)
    writer_store(sm, clock).save(token, expected_generation=None)
    return token


def points(r: TokenRefresher) -> RecordingMetrics:
    assert isinstance(r.metrics, RecordingMetrics)
    return r.metrics


# -- 1. an operator tool (or any bare slot store) must not rotate the token -------------------------------------


def test_a_refreshing_source_over_the_slots_never_calls_exact(sm: Any, clock: ManualClock) -> None:
    fake = FakeExact(clock)
    writer_store(sm, clock).save(fake.seed().replace(chain_id="c"), expected_generation=None)
    auth = ExactOnlineAuth(
        storage=SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock),  # what scripts used to build
        client_id="cid",
        client_secret="s3cret",
        redirect_uri="https://app.example/cb",
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
    )
    first = auth.get_access_token()
    clock.advance(580)  # past the 570 s window: before the fix it refreshed here and lost the result
    with pytest.raises(ReadOnlyRefreshRefused):
        auth.refresh()
    assert fake.calls == []
    writer_store(sm, clock).save(fake.seed(2).replace(chain_id="c"), expected_generation=1)  # the refresher
    assert auth.get_access_token() != first
    assert fake.calls == []


# -- 2. every Exact call, back-off and write fits the Lambda's remaining time ------------------------------------


class SlowExact(FakeExactTokens):
    """Each answer takes ``latency`` seconds of clock time (a slow 5xx, a slow success)."""

    latency: float = 14.9  # just under the endpoint's 15 s timeout

    def refresh(self, token: Token) -> Token:
        self.clock.sleep(self.latency)
        return super().refresh(token)


def test_slow_server_errors_never_outlive_the_invocation(sm: Any, clock: ManualClock) -> None:
    exact = SlowExact(clock)
    seed(sm, clock, exact)
    clock.advance(518)  # the window opens in 55 s: the run waits inside
    r = refresher(sm, clock, exact.refresh)
    exact.faults.extend(["5xx"] * 9)
    deadline = clock.now() + 120 - 5
    with pytest.raises(RefreshFailed, match="ServerError"):
        r.run(deadline=deadline)
    assert clock.now() <= deadline  # before the fix: 55 s + 4 x 14.9 s + 12 s of back-off: killed by Lambda
    assert exact.calls == 2  # a third call and the write would not have fit


def test_a_success_that_arrives_late_is_still_stored_before_the_deadline(sm: Any, clock: ManualClock) -> None:
    exact = SlowExact(clock)
    seed(sm, clock, exact)
    clock.advance(518)
    r = refresher(sm, clock, exact.refresh)
    exact.faults.append("5xx")
    deadline = clock.now() + 115
    out = r.run(deadline=deadline)
    assert out.action == "refreshed"
    assert clock.now() <= deadline


def test_an_in_run_wait_that_does_not_fit_is_left_to_the_next_run(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    clock.advance(540)
    r = refresher(sm, clock, exact.refresh)
    out = r.run(deadline=clock.now() + 40)  # 33 s of waiting + a call + the write do not fit
    assert out.action == "deferred"
    assert exact.calls == 0


def test_a_call_that_does_not_fit_whole_is_not_started(sm: Any, clock: ManualClock) -> None:
    """A shorter timeout could cut off a successful answer (a rotated token lost): the next run calls instead."""
    seen: list[float | None] = []

    class Endpoint:
        def refresh_answer(self, token: Token, *, timeout: float | None = None) -> TokenAnswer:
            seen.append(timeout)
            return TokenAnswer(exact.refresh(token))

    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    clock.advance(580)
    policy = RefreshPolicy()
    r = refresher(sm, clock, Endpoint())
    assert r.run(deadline=clock.now() + policy.write_reserve + policy.call_timeout - 1).action == "deferred"
    assert seen == []
    assert r.run(deadline=clock.now() + policy.write_reserve + policy.call_timeout).action == "refreshed"
    assert seen == [policy.call_timeout]


# -- 3. after a final refusal: no hammering; errors under 10 an hour; the daily budget ---------------------------


@pytest.mark.slow  # hours of minutely runs: in make test, not in the edit-test loop (make test-fast)
def test_an_expired_refresh_token_alarms_once_and_is_not_asked_again(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    exact.refresh_token = "rotated-elsewhere"  # every call now gets a final refusal
    clock.advance(580)
    r = refresher(sm, clock, exact.refresh)
    with pytest.raises(RefreshFailed, match="RefreshTokenReused"):
        r.run()
    outcomes = []
    for _ in range(120):  # two hours of minutely runs, warm and cold containers alike
        clock.advance(60)
        outcomes.append(refresher(sm, clock, exact.refresh).run().action)
    assert set(outcomes) == {"chain_broken"}
    assert exact.calls == 1  # before the fix: one call a minute, the day's quota gone in ~3 h


@pytest.mark.slow  # hours of minutely runs: in make test, not in the edit-test loop (make test-fast)
def test_token_endpoint_errors_stay_under_exacts_hourly_limit(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    exact.issued_at = clock.now() + 10_000  # Exact keeps saying "too early" (a clock far off)
    clock.advance(580)
    book = MemoryCallBook()
    r = refresher(sm, clock, exact.refresh, book=book)
    too_early_at: list[int] = []
    reasons = set()
    # Two hours of minutely runs: the budget fills, the hour passes, it fills again; every 60-minute window of the
    # run is checked (a third hour only repeats the second).
    for minute in range(120):
        try:
            r.run()
        except RefreshFailed as exc:
            reasons.add(exc.reason)
            if exc.reason == "TooEarly":
                too_early_at.append(minute)
        clock.advance(60)
    per_hour = [sum(1 for t in too_early_at if start <= t < start + 60) for start in range(61)]
    assert 0 < max(per_hour) <= 8  # Exact blocks the app after 10 errors an hour
    assert exact.too_early == len(too_early_at)
    assert "ErrorBudget" in reasons


def test_the_daily_call_budget_is_tracked_stored_and_enforced(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact, calls_day="2026-01-01", calls_today=1)
    clock.advance(580)
    r = refresher(sm, clock, exact.refresh, policy=RefreshPolicy(daily_call_budget=4))
    assert r.run().action == "refreshed"
    stored = writer_store(sm, clock).load(fresh=True)
    assert stored is not None
    assert (stored.calls_day, stored.calls_today) == ("2026-01-01", 2)  # the consent's call and this one
    assert points(r).last(m.TOKEN_CALLS_TODAY) == 2
    clock.advance(580)
    r.run()
    clock.advance(580)
    r.run()
    clock.advance(580)
    with pytest.raises(RefreshFailed, match="CallBudget"):
        r.run()
    assert exact.calls == 3


# -- 5. a corrupt slot ------------------------------------------------------------------------------------------


def test_a_corrupt_slot_is_alarmed_and_overwritten_by_the_next_refresh(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)  # slot A
    sm.put_secret_value(SecretId=SLOTS[1], SecretString="{damaged")
    clock.advance(580)
    r = refresher(sm, clock, exact.refresh)
    out = r.run()
    assert (out.action, out.slot) == ("refreshed", "B")  # written into the damaged slot
    assert points(r).total(m.CORRUPT_SLOTS) == 1  # reported (alarmed) on the run that saw it
    r.run()
    assert points(r).last(m.CORRUPT_SLOTS) == 0


# -- 6. one time base: Exact's ----------------------------------------------------------------------------------


class SkewedClock(ManualClock):
    """AWS's clock, ``skew`` seconds off Exact's (``base``); sleeping moves both."""

    def __init__(self, base: ManualClock, skew: float) -> None:
        super().__init__(base.now() + skew)
        self.base, self.skew = base, skew

    def now(self) -> float:
        return self.base.now() + self.skew

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)


def test_a_refresher_40_s_behind_exact_refreshes_on_exacts_clock(sm: Any, clock: ManualClock) -> None:
    exact = FakeExact(clock)  # stamps Date from Exact's clock
    aws = SkewedClock(clock, -40.0)
    endpoint = OAuthEndpoint(
        "https://start.exactonline.nl",
        "cid",
        "s3cret",
        "https://app.example/cb",
        http_client=httpx.Client(transport=httpx.MockTransport(exact.handler)),
        clock=ServerClock(aws),
    )
    token = exact.seed().replace(chain_id="c", clock_offset=40.0)  # the bootstrap measured the offset
    writer_store(sm, aws).save(token, expected_generation=None)
    reader = ReadOnlyTokenStorage(SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=aws), clock=aws)
    served_expired = 0
    refreshed_at = []
    start = clock.now()
    r = refresher(sm, aws, endpoint)
    for minute in range(1, 61):
        clock.set(start + 60 * minute)
        out = r.run()
        if out.action == "refreshed":
            refreshed_at.append(clock.now())
        got = reader.fresh_token()
        if got.expires_at <= clock.now() + 15:  # on Exact's clock
            served_expired += 1
    assert exact.too_early == 0
    assert exact.reused == 0
    assert served_expired == 0
    assert refreshed_at
    issued = [start, *refreshed_at]
    # Every refresh lands 573 s after the previous issue on Exact's clock (not 613 s: after expiry).
    assert all(573 <= b - a < 600 for a, b in zip(issued, refreshed_at, strict=False))


# -- 7. an odd successful answer is stored, with an alarm -------------------------------------------------------


def test_a_refresh_answer_without_a_readable_lifetime_is_stored_and_alarmed(sm: Any, clock: ManualClock) -> None:
    exact = FakeExact(clock)
    odd = {"on": True}

    def handler(request: httpx.Request) -> httpx.Response:
        response = exact.handler(request)
        if odd["on"] and response.status_code == 200:
            body = response.json()
            body["expires_in"] = "soon"
            return httpx.Response(200, json=body, headers=response.headers)
        return response

    endpoint = OAuthEndpoint(
        "https://start.exactonline.nl",
        "cid",
        "s3cret",
        "https://app.example/cb",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
    )
    writer_store(sm, clock).save(exact.seed().replace(chain_id="c"), expected_generation=None)
    clock.advance(580)
    r = refresher(sm, clock, endpoint)
    out = r.run()
    assert out.action == "refreshed"
    assert points(r).total(m.MALFORMED_ANSWERS) == 1
    stored = writer_store(sm, clock).load(fresh=True)
    assert stored is not None
    assert stored.expires_at == stored.issued_at + 600
    odd["on"] = False
    clock.advance(580)
    assert r.run().action == "refreshed"  # the kept refresh token carries the chain on
    assert exact.reused == 0


# -- 9. a stale rescue record never comes back --------------------------------------------------------------------


def test_a_rescue_record_of_an_old_chain_is_ignored_and_cleared(sm: Any, clock: ManualClock) -> None:
    exact = FakeExactTokens(clock)
    old = Token("A-old", "R-old", clock.now() - 7200, clock.now() - 6600, generation=2, chain_id="old-chain")
    rescue = RescueStore(RESCUE, client=sm, clock=clock)
    rescue.save(RescueRecord("token", 2, clock.now() - 7000, "StoreFailed", old, "old-chain"))
    seed(sm, clock, exact)  # the slots were re-created; a fresh consent wrote generation 1 of a new chain
    clock.advance(580)
    r = refresher(sm, clock, exact.refresh)
    out = r.run()
    assert (out.action, out.generation) == ("refreshed", 2)
    stored = writer_store(sm, clock).load(fresh=True)
    assert stored is not None
    assert stored.chain_id == "chain-1"
    assert stored.refresh_token == exact.refresh_token  # the live chain, not the stale rescue copy
    assert rescue.load() is None  # cleared


def test_a_rescued_token_of_the_current_chain_is_restored_once_then_cleared(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    clock.advance(580)
    r = refresher(sm, clock, exact.refresh)
    faults.fail("PutSecretValue", 5, "InternalServiceError", status=500)
    with pytest.raises(RefreshFailed, match="StoreFailed"):
        r.run()
    rescue = RescueStore(RESCUE, client=sm, clock=clock)
    assert rescue.load() is not None
    clock.advance(10)
    assert refresher(sm, clock, exact.refresh).run().action == "recovered"
    assert rescue.load() is None
    assert exact.calls == 1


# -- 10. a re-consent landing during a refresh is no alarm --------------------------------------------------------


def test_a_reconsent_during_a_refresh_supersedes_it_without_an_alarm(
    sm: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exact_online_sdk")
    exact = FakeExactTokens(clock)
    seed(sm, clock, exact)
    clock.advance(580)
    consent = Token("A-consent", "R-consent", clock.now(), clock.now() + 600, generation=2, chain_id="chain-2")

    def refresh_while_the_operator_consents(token: Token) -> Token:
        new = exact.refresh(token)
        writer_store(sm, clock).save(consent, expected_generation=1)  # the bootstrap lands first
        return new

    r = refresher(sm, clock, refresh_while_the_operator_consents)
    out = r.run()
    assert (out.action, out.generation) == ("superseded", 2)
    assert points(r).total(m.REFRESH_FAILURES) == 0
    assert points(r).total(m.RESCUE_WRITES) == 0
    assert RescueStore(RESCUE, client=sm).load() is None
    assert writer_store(sm, clock).load(fresh=True) == consent


@pytest.fixture(autouse=True)
def _quiet_boto(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="botocore")
