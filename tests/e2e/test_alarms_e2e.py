"""The refresher's alarms, exercised in the accelerated e2e (issue 16): each alarm of the table fires in the fault
scenario meant to raise it, within the time its period allows, and none fires in a clean run with survivable
faults or before the first consent.

The world is the one of ``test_refresher_e2e`` (the real handler in Lambda-like containers, the emulator, moto, one
simulated clock), with two additions (``_alarm_tap``): the handler's EMF output is captured from stdout and parsed
the way CloudWatch does (so a metric the handler does not really print, or prints with other dimensions, is not
seen), and the AWS services the e2e has no real copy of (Lambda's own metrics, the on-failure destination, the
Scheduler) are modelled from what the e2e does see: a handler that raises or is killed is one ``Errors``
datapoint and one message sent to the failure queue. The table's own evaluator (:func:`alarms.evaluate`, with
CloudWatch's rules) then says which alarms would have fired, and when.

The webhook receiver's alarms (``component="webhook"``) have their own world: ``test_webhook_alarms_e2e``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import Any

import httpx
import pytest

from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws.alarms import Datapoint, alarm
from tests.e2e import test_refresher_e2e as base
from tests.e2e._alarm_tap import (
    REFRESHER_ALARMS,
    AwsSide,
    EmfSink,
    alarmed,
    isolate_metrics,
    transitions,
)
from tests.e2e.test_refresher_e2e import AWS_SKEW, START, World

# The harness's fixtures, shared by name (the moto server is per module).
emulator, moto_url, _quiet = base.emulator, base.moto_url, base._quiet

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-alarms")]

MINUTE = 60.0
RAISED_BY = {
    "clean": set[str](),
    "consent": set[str](),
    "refusal": {"ChainBroken", "RefresherErrors", "FailureQueueMessages", "TokenFreshness"},
    "outage": {"RefresherErrors", "FailureQueueMessages", "TokenFreshness", "TokenCallsNearDailyLimit"},
    "answers_and_store": {
        "LostAnswerResends",
        "RescueStoreWritten",
        "CorruptSlots",
        "MalformedAnswers",
        "RefresherErrors",
        "FailureQueueMessages",
    },
    "delivery": {
        "RefresherNotRunning",
        "ScheduleTargetErrors",
        "ScheduleDeadLetterFailures",
        "DestinationDeliveryFailures",
        "FailureQueueMessages",
        "RefresherErrors",
    },
}
"""The alarms each scenario must raise, and no other."""


class MalformingLink(httpx.BaseTransport):
    """Between a refresher's link and the emulator: drops ``expires_in`` from the next successful refresh answers
    (Exact rotated; the answer is odd but usable)."""

    def __init__(self, inner: httpx.BaseTransport, world: AlarmWorld) -> None:
        self.inner, self.world = inner, world

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        refresh = request.url.path.endswith("/oauth2/token") and b"grant_type=refresh_token" in request.content
        if not (refresh and self.world.malformed and response.status_code == 200):
            return response
        body = json.loads(response.read())
        response.close()
        body.pop("expires_in", None)
        self.world.malformed -= 1
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return httpx.Response(200, headers=headers, json=body, request=request)

    def close(self) -> None:
        self.inner.close()


class AlarmWorld(World):
    """:class:`World` whose Lambda prints its EMF (captured) and whose AWS side reports its own metrics."""

    def __init__(self, emu: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch, *, seed: int) -> None:
        super().__init__(emu, moto_url, monkeypatch, seed=seed)
        monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # EMF on stdout, as in Lambda
        self.emf = EmfSink(self.aws_now, sys.stdout)
        monkeypatch.setattr(sys, "stdout", self.emf)
        self.aws = AwsSide(self.aws_now)
        self.malformed = 0

    def aws_now(self) -> float:
        """CloudWatch's time: the AWS clock."""
        return float(self.sim.now()) + AWS_SKEW

    def _container(self) -> Any:
        module = super()._container()
        if not getattr(module, "_alarm_tapped", False):
            isolate_metrics(module)
            module.handler = self.aws.wrap(module.handler)  # type: ignore[attr-defined]
            link = module._state["link"]
            link.inner = MalformingLink(link.inner, self)
            module._alarm_tapped = True  # type: ignore[attr-defined]
        return module

    def invoke(self) -> None:
        if self.aws.scheduled():
            super().invoke()

    # -- what CloudWatch sees -----------------------------------------------------------------------------------
    def points(self) -> list[Datapoint]:
        return [*self.emf.points, *self.aws.points]

    def verdict(self) -> dict[str, list[float]]:
        """Alarm -> the AWS times it went to ALARM, over the run (first delivery to the last)."""
        deliveries = [p.at for p in self.aws.points if p.metric in ("Invocations", "TargetErrorCount")]
        return alarmed(self.transitions(min(deliveries), max(deliveries) + 1))

    def transitions(self, start: float, end: float) -> Any:
        return transitions(self.points(), start=start, end=end)

    def emitted(self, metric: str) -> list[Datapoint]:
        """The refresher's datapoints of ``metric`` as CloudWatch extracted them from the EMF."""
        return [p for p in self.emf.points if p.namespace == mn.NAMESPACE and p.metric == metric]

    def check_capture(self) -> None:
        """The EMF carried every metric call the handler made (nothing lost, nothing invented), with the
        dimensions the alarms match on."""
        printed = sorted((p.metric, p.value) for p in self.emf.points if p.namespace == mn.NAMESPACE)
        called = sorted((name, value) for _, name, value, _ in self.tap.points)
        assert printed == called
        assert printed, "no EMF record was captured"
        for point in self.emf.points:
            assert point.dimensions.get("service") == mn.SERVICE


def aws(exact_time: float) -> float:
    """An instant on Exact's clock, on the AWS clock (CloudWatch's)."""
    return exact_time + AWS_SKEW


def period_end(at: float, period: float) -> float:
    """The end of the CloudWatch period (aligned on its length) that contains ``at``."""
    return (math.floor(at / period) + 1) * period


def first_reaching(world: AlarmWorld, metric: str, threshold: float) -> float:
    """When the refresher first reported ``metric`` at or above ``threshold`` (AWS time)."""
    return min(p.at for p in world.emitted(metric) if p.value >= threshold)


# -- quiet -----------------------------------------------------------------------------------------------------


def test_a_run_with_survivable_faults_raises_no_alarm(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour with the faults the chain survives without a human: a lost answer resent once, a slow 5xx burst
    retried in-run, twin deliveries racing at Exact, throttled reads, an operator script, a re-consent landing
    mid-refresh. None of them may page anyone."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=11)

    def faults(minute: int) -> None:
        if minute == 5:
            world.token_faults.queue.append("lost_before")
        if minute == 15:
            world.token_faults.queue.extend(["slow5xx:8", "slow5xx:6"])
        if minute == 32:
            world.aws_faults.fail("GetSecretValue", 2, "ThrottlingException")
        if minute == 36:
            world.sim.spawn("operator", world.operator_script)
        if minute == 45:
            world.token_faults.on_next_call = lambda: world.consents.append(world.consent())

    world.run(60, on_minute=faults, workers=0, twins=lambda minute: 20 <= minute <= 28)

    world.check_capture()
    assert world.verdict() == {}, world.timeline()
    # ...and the faults did happen.
    taken = [what for _, what in world.token_faults.taken]
    assert taken == ["lost_before", "slow5xx:8", "slow5xx:6"], world.timeline()
    assert world.tap.count(mn.LOST_ANSWER_RESENDS) == 1
    assert any(what == "superseded" for _, what, _ in world.invocations), "no twin lost a race: change the seed"
    assert [c["action"] for c in world.consents] == ["created", "reconsented"]
    assert not any(world.aws_faults.pending.values())
    assert world.kills == []


def test_before_the_first_consent_and_through_it_no_alarm_fires(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack deployed and waiting 20 minutes for its first consent, then running: quiet all along, although
    its token gauge reads 0 seconds left until the consent (the ``AwaitingConsent`` gauge is what keeps
    TokenFreshness quiet: without it, the same datapoints would raise it)."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=12)
    world.run(35, consent_at=20, workers=0)

    consent = aws(START + 20 * MINUTE)
    waiting = [p.value for p in world.emitted(mn.AWAITING_CONSENT) if p.at < consent]
    assert len(waiting) >= 18
    assert set(waiting) == {1.0}
    assert {p.value for p in world.emitted(mn.TOKEN_SECONDS_LEFT) if p.at < consent} == {0.0}
    assert world.emitted(mn.AWAITING_CONSENT)[-1].value == 0.0
    assert world.tap.reasons() == []
    world.check_capture()
    assert world.verdict() == {}, world.timeline()
    ungated = [dataclasses.replace(spec, unless=None) for spec in REFRESHER_ALARMS]
    deliveries = [p.at for p in world.aws.points if p.metric == "Invocations"]
    fired = alarmed(transitions(world.points(), start=deliveries[0], end=deliveries[-1] + 1, alarms=ungated))
    assert set(fired) == {"TokenFreshness"}


# -- each alarm in the scenario meant to raise it -----------------------------------------------------------------


def test_a_final_refusal_raises_chain_broken_until_the_reconsent(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact rotates and the answer is lost; the one resend is refused as used: the chain is broken. ChainBroken
    fires within its minute and stays until the operator's re-consent; the failed run raises RefresherErrors and
    lands in the failure queue; the stored token runs out: TokenFreshness after three low minutes."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=13)

    def faults(minute: int) -> None:
        if minute == 5:
            world.token_faults.queue.append("lost_after")
        if minute == 30:
            world.sim.spawn("operator", lambda: world.consents.append(world.consent()))

    world.run(40, on_minute=faults, workers=0)

    refusals = [r["time"] for r in world.token_log() if r.get("grant_type") == "refresh_token" and r["status"] == 401]
    assert len(refusals) == 1, world.timeline()
    refused = aws(refusals[0])
    broken_token = max((w for w in world.writes if w.at < refusals[0]), key=lambda w: w.token.generation).token
    reconsent = min(w.at for w in world.writes if w.token.chain_id != broken_token.chain_id and w.at > refusals[0])
    world.check_capture()
    fired = world.verdict()
    assert set(fired) == RAISED_BY["refusal"], world.timeline()

    chain = world.transitions(aws(START), aws(world.sim.now()))
    broken = [(t.at, t.state) for t in chain if t.alarm == "ChainBroken" and t.state != "INSUFFICIENT_DATA"]
    # ALARM at the end of the minute of the refusal; OK at the end of a minute after the re-consent.
    alarm_at = [at for at, state in broken if state == "ALARM"]
    ok_at = [at for at, state in broken if state == "OK"]
    assert alarm_at == [period_end(refused, MINUTE)]
    assert aws(reconsent) < ok_at[-1] <= aws(reconsent) + 2 * MINUTE
    assert fired["RefresherErrors"] == [period_end(refused, MINUTE)]  # the failing run, once
    assert fired["FailureQueueMessages"] == [period_end(refused, alarm("FailureQueueMessages").period_s)]
    # The broken token's last 30 s start at expiry - 30 s: three whole low minutes later at most, one more.
    low_from = aws(broken_token.expires_at - 30)
    (fresh_alarm,) = fired["TokenFreshness"]
    assert low_from + 2 * MINUTE < fresh_alarm <= low_from + 4 * MINUTE
    assert fresh_alarm < aws(reconsent)


def test_an_outage_at_exact_raises_errors_then_freshness_then_the_call_budget(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact's token endpoint answers 503 to every call for most of an hour. Each due run fails after its in-run
    retries (RefresherErrors, a message in the failure queue), the stored token runs out (TokenFreshness), and the
    retries spend the day's token calls (TokenCallsNearDailyLimit at 170). When Exact answers again, the next run
    refreshes: TokenFreshness returns to OK. Nothing says the chain is broken: it is not."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=14)
    limit = alarm("TokenCallsNearDailyLimit").threshold
    marks: dict[str, float] = {}

    def faults(minute: int) -> None:
        if minute == 12:
            world.token_faults.queue.extend(["slow5xx:0.5"] * 400)
            marks["outage"] = world.sim.now()
        calls = max(world.tap.values(mn.TOKEN_CALLS_TODAY), default=0)
        if "outage" in marks and "over" not in marks and calls >= limit + 4:
            world.token_faults.queue.clear()  # Exact is back, well before the refresher's own budget (190)
            marks["over"] = world.sim.now()

    world.run(75, on_minute=faults, workers=0)

    assert "over" in marks, f"the outage never spent {limit} calls: {world.tap.values(mn.TOKEN_CALLS_TODAY)[-3:]}"
    assert set(world.tap.reasons()) == {"ServerError"}, world.timeline()
    world.check_capture()
    fired = world.verdict()
    assert set(fired) == RAISED_BY["outage"], world.timeline()

    failures = [p.at for p in world.aws.points if p.metric == "Errors" and p.value == 1]
    first_failure = min(failures)
    assert fired["RefresherErrors"][0] == period_end(first_failure, MINUTE)
    assert fired["FailureQueueMessages"][0] == period_end(first_failure, 300)
    last_stored = max((w.token for w in world.writes if w.at < marks["over"]), key=lambda t: t.generation)
    low_from = aws(last_stored.expires_at - 30)
    (fresh_alarm,) = fired["TokenFreshness"]
    assert low_from + 2 * MINUTE < fresh_alarm <= low_from + 4 * MINUTE
    reached = first_reaching(world, mn.TOKEN_CALLS_TODAY, limit)
    assert fired["TokenCallsNearDailyLimit"] == [period_end(reached, 300)]
    # Recovery: the first refresh after the outage ends the freshness alarm within a minute.
    back = min(w.at for w in world.writes if w.at > marks["over"])
    freshness = [t for t in world.transitions(aws(START), aws(world.sim.now())) if t.alarm == "TokenFreshness"]
    assert freshness[-1].state == "OK"
    assert aws(back) < freshness[-1].at <= aws(back) + 2 * MINUTE
    assert max(world.tap.values(mn.CHAIN_BROKEN)) == 0


def test_lost_answers_a_store_outage_a_corrupt_slot_and_an_odd_answer_each_raise_their_alarm(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faults the chain survives but an operator must hear of, in one hour: three lost answers (each resent once,
    each refresh saved: LostAnswerResends at the end of the hour), a Secrets Manager outage longer than the
    retries (the token only in the rescue secret: RescueStoreWritten, and the failed run), a damaged slot
    (CorruptSlots until the refresher overwrites it), and a successful answer without ``expires_in``
    (MalformedAnswers). The chain never breaks and the token never runs low."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=15)
    marks: dict[str, float] = {}

    def faults(minute: int) -> None:
        if minute in (5, 15, 25):
            world.token_faults.queue.append("lost_before")
        if minute == 33:
            world.aws_faults.fail("PutSecretValue", 8, "InternalServiceError", status=500)
        if minute == 43:
            older = min(world.writes[-2:], key=lambda w: w.token.generation).slot
            world.sm.put_secret_value(SecretId=world.slots["AB".index(older)], SecretString="{damaged")
            marks["corrupt"] = world.sim.now()
        if minute == 47:
            world.malformed = 1

    world.run(62, on_minute=faults, workers=0)

    assert world.tap.count(mn.LOST_ANSWER_RESENDS) == 3, world.timeline()
    assert world.tap.reasons() == ["StoreFailed"], world.timeline()
    assert world.malformed == 0
    assert world.kills == []
    world.check_capture()
    fired = world.verdict()
    assert set(fired) == RAISED_BY["answers_and_store"], world.timeline()

    resends = [p.at for p in world.emitted(mn.LOST_ANSWER_RESENDS)]
    assert fired["LostAnswerResends"] == [period_end(resends[-1], 3600)]
    (store_failed,) = [p.at for p in world.aws.points if p.metric == "Errors" and p.value == 1]
    rescued = [p.at for p in world.emitted(mn.RESCUE_WRITES)]
    assert fired["RescueStoreWritten"] == [period_end(rescued[0], MINUTE)]
    assert rescued[0] <= store_failed
    assert fired["RefresherErrors"] == [period_end(store_failed, MINUTE)]
    assert fired["FailureQueueMessages"] == [period_end(store_failed, 300)]
    corrupt_seen = first_reaching(world, mn.CORRUPT_SLOTS, 1)
    assert aws(marks["corrupt"]) < corrupt_seen <= aws(marks["corrupt"]) + MINUTE + 30
    assert fired["CorruptSlots"] == [period_end(corrupt_seen, MINUTE)]
    assert world.emitted(mn.CORRUPT_SLOTS)[-1].value == 0  # the refresher overwrote the damaged slot
    (odd,) = [p.at for p in world.emitted(mn.MALFORMED_ANSWERS)]
    assert fired["MalformedAnswers"] == [period_end(odd, 300)]
    assert max(world.tap.values(mn.CHAIN_BROKEN)) == 0


# A run that fails before its first plain metric (StoreUnreadable) prints only its dimensioned record: Powertools
# warns that the handler's own set is empty.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_scheduler_and_delivery_failures_raise_their_alarms(
    emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS side, modelled: the schedule disabled for eight minutes (RefresherNotRunning), Lambda refusing the
    Scheduler's invokes (ScheduleTargetErrors, the events in the failure queue), the same while the failure queue
    refuses writes (ScheduleDeadLetterFailures), and a failing run while it still does (DestinationDeliveryFailures
    instead of a message)."""
    world = AlarmWorld(emulator, moto_url, monkeypatch, seed=16)
    side = world.aws
    marks: dict[str, float] = {}

    def faults(minute: int) -> None:
        side.schedule_enabled = not 10 <= minute <= 17
        side.target_reachable = not (22 <= minute <= 23 or 28 <= minute <= 29)
        side.failure_queue_writable = not 27 <= minute <= 35
        if minute == 33:
            world.aws_faults.fail("GetSecretValue", 1, "AccessDeniedException")
            marks["denied"] = world.sim.now()

    world.run(42, on_minute=faults, workers=0)

    assert world.tap.reasons() == ["StoreUnreadable"], world.timeline()
    world.check_capture()
    fired = world.verdict()
    assert set(fired) == RAISED_BY["delivery"], world.timeline()

    # Deliveries are at AWS hh:mm:15; none from 03:09:15 to 03:16:15: [03:10, 03:15) is the first empty period.
    assert fired["RefresherNotRunning"] == [START + 15 * MINUTE]
    target_errors = [p.at for p in side.points if p.metric == "TargetErrorCount"]
    assert len(target_errors) == 4
    # Minutes 22-23 and 28-29 fall in two adjacent periods: one ALARM, at the end of the first.
    assert fired["ScheduleTargetErrors"] == [period_end(target_errors[0], 300)]
    lost = [p.at for p in side.points if p.metric == "InvocationsFailedToBeSentToDeadLetterCount"]
    assert len(lost) == 2
    assert fired["ScheduleDeadLetterFailures"] == [period_end(lost[0], 300)]
    (undelivered,) = [p.at for p in side.points if p.metric == "DestinationDeliveryFailures"]
    assert aws(marks["denied"]) <= undelivered
    assert fired["DestinationDeliveryFailures"] == [period_end(undelivered, 300)]
    assert fired["RefresherErrors"] == [period_end(undelivered, MINUTE)]
    sent = [p.at for p in side.points if p.metric == "NumberOfMessagesSent"]
    assert len(sent) == 2  # the two events of minutes 22-23; later ones had no queue to go to
    assert fired["FailureQueueMessages"] == [period_end(sent[0], 300)]


def test_every_refresher_alarm_of_the_table_has_a_scenario_that_raises_it() -> None:
    raised = set().union(*RAISED_BY.values())
    assert raised == {spec.name for spec in REFRESHER_ALARMS}
    assert RAISED_BY["clean"] == RAISED_BY["consent"] == set()
