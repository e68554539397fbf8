"""The refresher core on a ManualClock against moto and a token endpoint that keeps Exact's rules."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest

from exact_online_sdk.aws import metrics_names as m
from exact_online_sdk.aws.refresher import RecordingMetrics, RefreshFailed, TokenRefresher
from exact_online_sdk.aws.rescue import RescueStore
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock

from .conftest import RESCUE, SLOTS
from .fakes import AwsFaults, FakeExactTokens


@pytest.fixture
def exact(clock: ManualClock) -> FakeExactTokens:
    return FakeExactTokens(clock)


def make(sm: Any, clock: ManualClock, exact: FakeExactTokens, **kw: Any) -> TokenRefresher:
    store = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)
    rescue = RescueStore(RESCUE, client=sm, clock=clock)
    return TokenRefresher(store, exact.refresh, clock=clock, metrics=RecordingMetrics(), rescue=rescue, **kw)


def bootstrap(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True).save(
        exact.first_token(), expected_generation=None
    )


def metrics(r: TokenRefresher) -> RecordingMetrics:
    assert isinstance(r.metrics, RecordingMetrics)
    return r.metrics


def test_not_due_exits_at_once(sm: Any, clock: ManualClock, exact: FakeExactTokens, faults: AwsFaults) -> None:
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    faults.calls.clear()
    clock.advance(100)
    t0 = clock.now()
    out = r.run()
    assert out.action == "not_due"
    assert out.generation == 1
    assert clock.now() == t0
    assert exact.calls == 0
    assert faults.calls.get("GetSecretValue") == 2
    assert "PutSecretValue" not in faults.calls
    assert metrics(r).last(m.TOKEN_SECONDS_LEFT) == 500.0
    assert metrics(r).last(m.AWAITING_CONSENT) == 0
    assert metrics(r).last(m.CHAIN_BROKEN) == 0
    assert metrics(r).last(m.CORRUPT_SLOTS) == 0
    assert metrics(r).total(m.REFRESH_FAILURES) == 0


def test_waits_inside_the_run_when_the_window_opens_within_a_minute(
    sm: Any, clock: ManualClock, exact: FakeExactTokens
) -> None:
    bootstrap(sm, clock, exact)
    issued = clock.now()
    r = make(sm, clock, exact)
    clock.advance(540)
    out = r.run()
    assert out.action == "refreshed"
    assert out.generation == 2
    assert out.slot == "B"
    assert out.waited == pytest.approx(33)
    assert clock.now() == pytest.approx(issued + 573)
    assert exact.too_early == 0
    assert metrics(r).total(m.REFRESHES) == 1
    assert metrics(r).total(m.SLOT_WRITES, Slot="B") == 1
    stored = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock).load(fresh=True)
    assert stored is not None
    assert stored.generation == 2
    assert stored.writer == "refresher"
    assert stored.refresh_token == exact.refresh_token


@pytest.mark.slow  # hours of minutely runs: in make test, not in the edit-test loop (make test-fast)
def test_two_simulated_hours_of_minutely_runs(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    """Issue 4: each slot written at most once per 19 minutes while a reader always finds an unexpired token
    (two hours: the pattern repeats every 19 minutes, so six times over; the long e2e covers more)."""
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    reader = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock)
    writes: dict[str, list[float]] = {"A": [clock.now()], "B": []}
    start = clock.now()
    minute = 0
    while clock.now() - start < 2 * 3600:
        minute += 1
        clock.set(max(clock.now(), start + 60 * minute))  # a run that waited delays the next one
        out = r.run()
        if out.action == "refreshed":
            assert out.slot is not None
            writes[out.slot].append(clock.now())
        token = reader.load()
        assert token is not None
        assert token.expires_in(clock.now()) > 0
    for times in writes.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 19 * 60
    assert exact.too_early == 0
    assert exact.reused == 0
    assert 12 <= exact.calls <= 13  # one refresh every 570-600 s
    assert metrics(r).total(m.REFRESH_FAILURES) == 0


def test_duplicate_invocation_is_a_noop(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    bootstrap(sm, clock, exact)
    clock.advance(580)
    first, duplicate = make(sm, clock, exact), make(sm, clock, exact)
    assert first.run().action == "refreshed"
    assert duplicate.run().action == "not_due"
    assert exact.calls == 1


def test_concurrent_run_losing_the_race_reports_superseded(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    bootstrap(sm, clock, exact)
    clock.advance(580)
    winner, loser = make(sm, clock, exact), make(sm, clock, exact)
    stale = loser.store.read_slots()
    reads = iter([stale])
    real = loser.store.read_slots
    loser.store.read_slots = lambda: next(reads, None) or real()  # type: ignore[method-assign]
    assert winner.run().action == "refreshed"
    out = loser.run()  # it read generation 1 before the winner stored 2, then Exact says "Old refresh token used"
    assert out.action == "superseded"
    assert out.generation == 2
    assert exact.reused == 1
    assert metrics(loser).total(m.REFRESH_FAILURES) == 0


def test_rejected_refresh_is_final_for_the_run(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    bootstrap(sm, clock, exact)
    exact.refresh_token = "REFRESH-SECRET-rotated-elsewhere"  # the chain was broken by someone else
    r = make(sm, clock, exact)
    clock.advance(580)
    with pytest.raises(RefreshFailed) as info:
        r.run()
    assert info.value.reason == "RefreshTokenReused"
    assert exact.calls == 1
    assert metrics(r).total(m.REFRESH_FAILURES, Reason="RefreshTokenReused") == 1
    assert r.store.load(fresh=True).generation == 1  # type: ignore[union-attr]


def test_a_lost_rotation_is_resent_once_then_alarmed_once_and_never_sent_again(
    sm: Any, clock: ManualClock, exact: FakeExactTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defects 3 and 4: resend once; 'Old refresh token used' then means the rotation was lost."""
    caplog.set_level(logging.DEBUG, logger="exact_online_sdk")
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(580)
    exact.faults.append("drop")  # Exact rotates, the answer is lost
    with pytest.raises(RefreshFailed) as info:
        r.run()
    assert info.value.reason == "RefreshTokenReused"
    assert "answer was lost" in str(info.value)
    assert exact.calls == 2  # sent, resent once
    assert metrics(r).total(m.LOST_ANSWER_RESENDS) == 1
    assert metrics(r).last(m.CHAIN_BROKEN) == 1
    record = RescueStore(RESCUE, client=sm).load()
    assert record is not None
    assert (record.kind, record.generation, record.reason) == ("refused", 1, "RefreshTokenReused")
    # Later runs (also a cold container) make no token call for that generation and do not raise again.
    for refresher in (r, make(sm, clock, exact), make(sm, clock, exact)):
        clock.advance(60)
        out = refresher.run()
        assert out.action == "chain_broken"
        assert metrics(refresher).last(m.CHAIN_BROKEN) == 1
    assert exact.calls == 2
    # Re-consent writes the next generation of a new chain: the refresher resumes.
    store = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)
    store.save(exact.first_token().replace(generation=2, chain_id="new-consent"), expected_generation=1)
    clock.advance(580)
    assert r.run().action == "refreshed"
    assert metrics(r).last(m.CHAIN_BROKEN) == 0
    assert "SECRET" not in caplog.text


def test_a_lost_answer_exact_never_processed_is_resent_and_the_chain_lives(
    sm: Any, clock: ManualClock, exact: FakeExactTokens
) -> None:
    """Issue 12 defect 4: before, a lost answer left 'outcome unknown' for ever; the resend keeps the chain."""
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(580)
    exact.faults.append("lost")  # a slow 503 / reset before Exact processed it
    out = r.run()
    assert (out.action, out.generation) == ("refreshed", 2)
    assert exact.calls == 2
    assert exact.reused == 0
    assert metrics(r).total(m.LOST_ANSWER_RESENDS) == 1
    assert metrics(r).total(m.REFRESH_FAILURES) == 0
    assert RescueStore(RESCUE, client=sm).load() is None  # the resend marker was cleared


def test_a_lost_answer_without_time_left_is_resent_by_the_next_run_exactly_once(
    sm: Any, clock: ManualClock, exact: FakeExactTokens
) -> None:
    bootstrap(sm, clock, exact)
    clock.advance(580)
    exact.faults.append("lost")
    first = make(sm, clock, exact)
    deadline = clock.now() + first.policy.write_reserve + first.policy.call_timeout + 1
    out = first.run(deadline=deadline)  # time for one call, not for the resend
    assert out.action == "deferred"
    assert exact.calls == 1
    record = RescueStore(RESCUE, client=sm).load()
    assert record is not None
    assert (record.kind, record.resends) == ("outcome_unknown", 0)
    clock.advance(60)
    cold = make(sm, clock, exact)  # another container
    exact.faults.append("lost")  # the resend is lost too
    with pytest.raises(RefreshFailed, match="OutcomeUnknown"):
        cold.run()
    assert exact.calls == 2
    for _ in range(3):  # never a third time
        clock.advance(60)
        assert make(sm, clock, exact).run().action == "chain_broken"
    assert exact.calls == 2


def test_server_errors_are_retried_within_the_run(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(575)
    exact.faults.extend(["5xx", "5xx"])
    assert r.run().action == "refreshed"
    assert exact.calls == 3
    assert metrics(r).total(m.REFRESH_FAILURES) == 0


def test_server_errors_are_retried_even_after_the_access_token_expired(
    sm: Any, clock: ManualClock, exact: FakeExactTokens
) -> None:
    # The previous rule stopped after one attempt once the token had expired: one 503 then meant an outage.
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(640)
    exact.faults.extend(["5xx", "5xx", "5xx"])
    outcome = r.run()
    assert (outcome.action, outcome.generation) == ("refreshed", 2)
    assert exact.calls == 4
    assert metrics(r).total(m.REFRESH_FAILURES) == 0


def test_persistent_server_errors_fail_the_run_then_recover(
    sm: Any, clock: ManualClock, exact: FakeExactTokens
) -> None:
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(575)
    exact.faults.extend(["5xx"] * 4)
    with pytest.raises(RefreshFailed, match="ServerError"):
        r.run()
    clock.advance(30)
    assert r.run().action == "refreshed"


def test_store_failure_keeps_a_rescue_copy_and_the_next_run_stores_it(
    sm: Any, clock: ManualClock, exact: FakeExactTokens, faults: AwsFaults, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exact_online_sdk")
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(580)
    faults.fail("PutSecretValue", 5, "InternalServiceError", status=500)  # every slot attempt of this run
    with pytest.raises(RefreshFailed) as info:
        r.run()
    assert info.value.reason == "StoreFailed"
    assert metrics(r).total(m.RESCUE_WRITES) == 1
    rescued = RescueStore(RESCUE, client=sm).load()
    assert rescued is not None
    assert rescued.kind == "token"
    assert rescued.generation == 2
    assert r.store.load(fresh=True).generation == 1  # type: ignore[union-attr]
    # A cold container finds the rescue copy and stores it; Exact is not called again.
    clock.advance(5)
    cold = make(sm, clock, exact)
    out = cold.run()
    assert out.action == "recovered"
    assert out.generation == 2
    assert exact.calls == 1
    assert cold.store.load(fresh=True).refresh_token == exact.refresh_token  # type: ignore[union-attr]
    # The chain is intact: the next refresh works.
    clock.advance(575)
    assert cold.run().action == "refreshed"
    assert exact.reused == 0
    assert "SECRET" not in caplog.text


def test_warm_container_stores_a_token_even_when_the_rescue_store_failed(
    sm: Any, clock: ManualClock, exact: FakeExactTokens, faults: AwsFaults
) -> None:
    bootstrap(sm, clock, exact)
    r = make(sm, clock, exact)
    clock.advance(580)
    faults.fail("PutSecretValue", 9, "InternalServiceError", status=500)  # slots and rescue
    with pytest.raises(RefreshFailed, match="StoreFailed"):
        r.run()
    assert RescueStore(RESCUE, client=sm).load() is None
    clock.advance(10)
    assert r.run().action == "recovered"
    assert r.store.load(fresh=True).generation == 2  # type: ignore[union-attr]


def test_before_the_first_consent_the_run_is_quiet(sm: Any, clock: ManualClock, exact: FakeExactTokens) -> None:
    """Contract: AwaitingConsent = 1, no raise (nothing lands in the failure queue), no token call."""
    r = make(sm, clock, exact)
    out = r.run()
    assert (out.action, out.generation) == ("awaiting_consent", 0)
    assert metrics(r).last(m.AWAITING_CONSENT) == 1
    assert metrics(r).last(m.TOKEN_SECONDS_LEFT) == 0
    assert metrics(r).total(m.REFRESH_FAILURES) == 0
    assert exact.calls == 0
    bootstrap(sm, clock, exact)
    assert r.run().action == "not_due"
    assert metrics(r).last(m.AWAITING_CONSENT) == 0


def test_unreadable_slots_fail_with_store_unreadable(
    sm: Any, clock: ManualClock, exact: FakeExactTokens, faults: AwsFaults
) -> None:
    bootstrap(sm, clock, exact)
    faults.fail("GetSecretValue", 1, "AccessDeniedException")
    r = make(sm, clock, exact)
    with pytest.raises(RefreshFailed, match="StoreUnreadable"):
        r.run()
    assert exact.calls == 0
