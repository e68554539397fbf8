"""The alarm table and its evaluator (``exact_online_sdk.aws.alarms``): which alarms a run's metrics would raise.

Plain data and a pure function, no CDK: the scenarios below are what the accelerated e2e feeds it, written out by
hand with CloudWatch's rules (periods aligned on their length, M of N, missing-data treatment).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws.alarms import (
    ALARMS,
    AlarmSpec,
    Datapoint,
    Resource,
    Transition,
    alarm,
    evaluate,
    firing,
    invocation_datapoints,
    refresher_datapoint,
)

T0 = 1_800_000_000.0  # a multiple of 3600: every period starts on it
MINUTE = 60.0
REFRESHER_ALARMS = [spec for spec in ALARMS if spec.component == "refresher"]


def healthy_minute(at: float, seconds_left: float = 300.0) -> list[Datapoint]:
    """What one good scheduled run reports: an invocation without error, the token's validity and the gauges."""
    return [
        *invocation_datapoints(at),
        refresher_datapoint(at, mn.CORRUPT_SLOTS, 0),
        refresher_datapoint(at, mn.AWAITING_CONSENT, 0),
        refresher_datapoint(at, mn.CHAIN_BROKEN, 0),
        refresher_datapoint(at, mn.TOKEN_CALLS_TODAY, 40),
        refresher_datapoint(at, mn.TOKEN_SECONDS_LEFT, seconds_left),
    ]


def run(minutes: int, make: Callable[[float], list[Datapoint]]) -> list[Datapoint]:
    """``make(at)`` for one run a minute, 5 s into each minute."""
    return [p for m in range(minutes) for p in make(T0 + m * MINUTE + 5)]


def test_table_names_are_unique_and_every_alarm_has_a_runbook_anchor() -> None:
    names = [spec.name for spec in ALARMS]
    assert len(names) == len(set(names))
    for spec in ALARMS:
        assert spec.runbook == spec.name.lower()
        assert 1 <= spec.datapoints_to_alarm <= spec.evaluation_periods
        assert spec.period_s % 60 == 0
    assert alarm("TokenFreshness").metric == mn.TOKEN_SECONDS_LEFT
    with pytest.raises(KeyError):
        alarm("NoSuchAlarm")


def test_awaiting_consent_is_never_alarmed() -> None:
    assert not [spec for spec in ALARMS if spec.metric == mn.AWAITING_CONSENT]


def test_a_clean_hour_raises_nothing() -> None:
    points = run(60, healthy_minute)
    assert firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 3600) == set()


def waiting_for_consent(at: float) -> list[Datapoint]:
    """What a run reports before the first consent: it succeeds, AwaitingConsent 1, no token (0 seconds left)."""
    return [
        *invocation_datapoints(at),
        refresher_datapoint(at, mn.CORRUPT_SLOTS, 0),
        refresher_datapoint(at, mn.AWAITING_CONSENT, 1),
        refresher_datapoint(at, mn.CHAIN_BROKEN, 0),
        refresher_datapoint(at, mn.TOKEN_SECONDS_LEFT, 0),
    ]


def test_before_the_first_consent_the_stack_is_quiet() -> None:
    points = run(24 * 60, waiting_for_consent)
    assert firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 24 * 3600) == set()


def test_awaiting_consent_is_what_silences_freshness() -> None:
    """Without its gate, 0 seconds left would raise TokenFreshness before anyone could consent."""
    ungated = dataclasses.replace(alarm("TokenFreshness"), unless=None)
    points = run(10, waiting_for_consent)
    assert firing([ungated], points, start=T0, end=T0 + 600) == {"TokenFreshness"}
    # After the consent the gate is 0: a stale token alarms again.
    stale = [p for p in run(10, waiting_for_consent) if p.metric != mn.AWAITING_CONSENT]
    stale += [refresher_datapoint(p.at, mn.AWAITING_CONSENT, 0) for p in stale if p.metric == mn.CHAIN_BROKEN]
    assert firing([alarm("TokenFreshness")], stale, start=T0, end=T0 + 600) == {"TokenFreshness"}


def test_a_failing_run_raises_refresher_errors_for_that_minute_then_ok() -> None:
    points = run(10, healthy_minute)
    failed_at = T0 + 4 * MINUTE + 5
    points = [p for p in points if not (p.at == failed_at and p.namespace == "AWS/Lambda")]
    points += invocation_datapoints(failed_at, failed=True)
    transitions = [
        t for t in evaluate(REFRESHER_ALARMS, points, start=T0, end=T0 + 600) if t.alarm == "RefresherErrors"
    ]
    assert transitions == [
        Transition("RefresherErrors", T0 + 60, "OK"),
        Transition("RefresherErrors", T0 + 5 * MINUTE, "ALARM"),
        Transition("RefresherErrors", T0 + 6 * MINUTE, "OK"),
    ]


def test_freshness_needs_three_low_minutes_in_a_row() -> None:
    def expiring(at: float) -> list[Datapoint]:
        minute = int((at - T0) // MINUTE)
        return healthy_minute(at, seconds_left=20.0 if minute in (3, 4, 6, 7, 8) else 300.0)

    transitions = [
        t for t in evaluate(REFRESHER_ALARMS, run(12, expiring), start=T0, end=T0 + 720) if t.alarm == "TokenFreshness"
    ]
    # Minutes 3-4 are only two in a row; 6, 7, 8 are three: ALARM at the end of minute 8, OK after minute 9.
    assert transitions == [
        Transition("TokenFreshness", T0 + 3 * MINUTE, "OK"),
        Transition("TokenFreshness", T0 + 9 * MINUTE, "ALARM"),
        Transition("TokenFreshness", T0 + 10 * MINUTE, "OK"),
    ]


def test_a_refresher_that_is_not_invoked_is_caught_by_missing_data() -> None:
    points = [p for p in run(30, healthy_minute) if not T0 + 600 <= p.at < T0 + 1200]
    transitions = [
        t for t in evaluate(REFRESHER_ALARMS, points, start=T0, end=T0 + 1800) if t.alarm == "RefresherNotRunning"
    ]
    assert transitions == [
        Transition("RefresherNotRunning", T0 + 300, "OK"),
        Transition("RefresherNotRunning", T0 + 900, "ALARM"),
        Transition("RefresherNotRunning", T0 + 1500, "OK"),
    ]
    # Token freshness stays quiet meanwhile: no datapoint is not a stale token.
    assert "TokenFreshness" not in firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 1800)


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        (mn.RESCUE_WRITES, 1, "RescueStoreWritten"),
        (mn.CHAIN_BROKEN, 1, "ChainBroken"),
        (mn.TOKEN_CALLS_TODAY, 171, "TokenCallsNearDailyLimit"),
        (mn.CORRUPT_SLOTS, 1, "CorruptSlots"),
        (mn.MALFORMED_ANSWERS, 1, "MalformedAnswers"),
    ],
)
def test_each_refresher_fault_metric_raises_its_alarm(metric: str, value: float, expected: str) -> None:
    points = [*run(10, healthy_minute), refresher_datapoint(T0 + 302, metric, value)]
    assert firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 600) == {expected}


def test_lost_answers_alarm_on_the_third_in_an_hour() -> None:
    base = run(120, healthy_minute)
    two = [
        refresher_datapoint(T0 + 100, mn.LOST_ANSWER_RESENDS, 1),
        refresher_datapoint(T0 + 2000, mn.LOST_ANSWER_RESENDS, 1),
    ]
    assert firing(REFRESHER_ALARMS, base + two, start=T0, end=T0 + 7200) == set()
    three = [*two, refresher_datapoint(T0 + 3000, mn.LOST_ANSWER_RESENDS, 1)]
    assert firing(REFRESHER_ALARMS, base + three, start=T0, end=T0 + 7200) == {"LostAnswerResends"}


def test_aws_metrics_match_through_the_deployed_names() -> None:
    resources = {Resource.FAILURE_QUEUE: "ExactOnlineToken-Failures-abc", Resource.SCHEDULE_GROUP: "group-1"}
    points = [
        *run(10, healthy_minute),
        Datapoint(T0 + 130, "AWS/SQS", "NumberOfMessagesSent", 1, {"QueueName": "ExactOnlineToken-Failures-abc"}),
        Datapoint(T0 + 140, "AWS/Scheduler", "TargetErrorCount", 2, {"ScheduleGroup": "group-1"}),
        # Another queue's messages are not ours.
        Datapoint(T0 + 150, "AWS/SQS", "NumberOfMessagesSent", 5, {"QueueName": "someone-else"}),
    ]
    assert firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 600, resources=resources) == {
        "FailureQueueMessages",
        "ScheduleTargetErrors",
    }


def test_a_metric_with_extra_dimensions_is_another_metric() -> None:
    """RefreshFailures carries a Reason dimension: it never matches an alarm on the bare service dimension."""
    points = [*run(5, healthy_minute), refresher_datapoint(T0 + 70, mn.RESCUE_WRITES, 1, {"Reason": "StoreFailed"})]
    assert firing(REFRESHER_ALARMS, points, start=T0, end=T0 + 300) == set()


def test_missing_data_treatments() -> None:
    base = AlarmSpec(
        name="X",
        description="x",
        namespace="N",
        metric="M",
        dimensions={},
        statistic="Average",
        period_s=60,
        threshold=10,
        comparison="GreaterThanThreshold",
        evaluation_periods=3,
        datapoints_to_alarm=2,
        missing_data="missing",
    )
    points = [Datapoint(T0 + 5, "N", "M", 20), Datapoint(T0 + 10, "N", "M", 30), Datapoint(T0 + 125, "N", "M", 11)]
    # "missing": only present periods count: 25 (breach) and 11 (breach) -> ALARM at the end of minute 3.
    assert evaluate([base], points, start=T0, end=T0 + 180) == [Transition("X", T0 + 180, "ALARM")]
    # "notBreaching": the empty minute counts as fine; "breaching": as a breach.
    quiet = dataclasses.replace(base, missing_data="notBreaching", datapoints_to_alarm=3)
    assert evaluate([quiet], points, start=T0, end=T0 + 180) == [Transition("X", T0 + 180, "OK")]
    loud = dataclasses.replace(base, missing_data="breaching", datapoints_to_alarm=3)
    assert evaluate([loud], points, start=T0, end=T0 + 180) == [Transition("X", T0 + 180, "ALARM")]
    ignoring = dataclasses.replace(base, missing_data="ignore", evaluation_periods=1, datapoints_to_alarm=1)
    # One-minute windows: ALARM, then an empty minute keeps the state, then ALARM stays.
    assert evaluate([ignoring], points, start=T0, end=T0 + 180) == [Transition("X", T0 + 60, "ALARM")]
