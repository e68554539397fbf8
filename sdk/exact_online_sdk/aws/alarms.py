"""The alarms of the token stack as data, and a pure evaluator that says which of them a run would have raised.

The CDK construct builds one CloudWatch alarm per :class:`AlarmSpec` in :data:`ALARMS`; docs/runbook.md has a
section per alarm (the ``runbook`` anchor). Because the table is plain data, an accelerated end-to-end run can feed
the metrics it emitted to :func:`evaluate` and check that each fault raises the alarm meant for it, and that a clean
run, or a stack waiting for its first consent, raises none.

Dimension values are either literal strings or a :class:`Resource`: a placeholder for a name only known once the
stack is deployed (the refresher's function name, the failure queue's name, ...). :func:`evaluate` resolves them
through its ``resources`` mapping (by default a placeholder stands for itself).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from . import metrics_names as mn

__all__ = [
    "ALARMS",
    "AlarmSpec",
    "Comparison",
    "Datapoint",
    "MissingData",
    "Resource",
    "Statistic",
    "Transition",
    "alarm",
    "evaluate",
    "firing",
    "invocation_datapoints",
    "refresher_datapoint",
]

Statistic = Literal["Sum", "Minimum", "Maximum", "Average", "SampleCount"]
Comparison = Literal[
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]
State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class Resource(StrEnum):
    """A dimension value known only after deploy; the construct fills in the real name."""

    REFRESHER_FUNCTION = "refresher-function"
    FAILURE_QUEUE = "failure-queue"
    SCHEDULE_GROUP = "schedule-group"
    WEBHOOK_FUNCTION = "webhook-function"
    WEBHOOK_DEAD_LETTER_QUEUE = "webhook-dead-letter-queue"


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm: what it watches, when it fires, and where its runbook section is."""

    name: str
    """Construct id and runbook heading (``RefresherErrors``); the deployed alarm is ``<prefix><name>``."""
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str | Resource]
    statistic: Statistic
    period_s: int
    threshold: float
    comparison: Comparison
    evaluation_periods: int
    datapoints_to_alarm: int
    missing_data: MissingData
    component: Literal["refresher", "webhook"] = "refresher"
    unless: str | None = None
    """A 0/1 gauge of the same namespace and dimensions: a period in which it is 1 (its Maximum) never breaches.
    (``TokenFreshness`` is quiet while ``AwaitingConsent``: before the first consent there is no token to keep
    fresh, whatever ``TokenSecondsLeft`` says.) The construct renders it as ``IF(unless >= 1, quiet value, m)``."""

    @property
    def runbook(self) -> str:
        """The anchor of the alarm's section in docs/runbook.md (mkdocs' slug of the heading)."""
        return self.name.lower()

    @property
    def quiet_value(self) -> float:
        """A value on the safe side of the threshold (what a period gated by ``unless`` counts as)."""
        return self.threshold + 1 if self.comparison.startswith("Less") else self.threshold - 1

    def breaches(self, value: float) -> bool:
        """Whether one period's value is on the alarming side of the threshold."""
        if self.comparison == "GreaterThanOrEqualToThreshold":
            return value >= self.threshold
        if self.comparison == "GreaterThanThreshold":
            return value > self.threshold
        if self.comparison == "LessThanThreshold":
            return value < self.threshold
        return value <= self.threshold


_REFRESHER_DIMS: Mapping[str, str | Resource] = {"service": mn.SERVICE}  # Powertools adds it to every metric
_ONE_MINUTE, _FIVE_MINUTES, _ONE_HOUR = 60, 300, 3600


def _count_alarm(
    name: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str | Resource],
    *,
    period_s: int,
    threshold: float = 1,
    statistic: Statistic = "Sum",
    component: Literal["refresher", "webhook"] = "refresher",
) -> AlarmSpec:
    """Something happened at least ``threshold`` times in one period (no data: nothing happened)."""
    return AlarmSpec(
        name=name,
        description=description,
        namespace=namespace,
        metric=metric,
        dimensions=dimensions,
        statistic=statistic,
        period_s=period_s,
        threshold=threshold,
        comparison="GreaterThanOrEqualToThreshold",
        evaluation_periods=1,
        datapoints_to_alarm=1,
        missing_data="notBreaching",
        component=component,
    )


ALARMS: tuple[AlarmSpec, ...] = (
    _count_alarm(
        "RefresherErrors",
        "A refresher run failed (final refusal by Exact, unknown outcome, store): failures in the last minute",
        "AWS/Lambda",
        "Errors",
        {"FunctionName": Resource.REFRESHER_FUNCTION},
        period_s=_ONE_MINUTE,
    ),
    AlarmSpec(
        name="TokenFreshness",
        description="The stored token had less validity left than the threshold for three minutes in a row",
        namespace=mn.NAMESPACE,
        metric=mn.TOKEN_SECONDS_LEFT,
        dimensions=_REFRESHER_DIMS,
        statistic="Minimum",
        period_s=_ONE_MINUTE,
        threshold=30,
        comparison="LessThanThreshold",
        evaluation_periods=3,
        datapoints_to_alarm=3,
        # A refresher that stopped running reports nothing: that is RefresherNotRunning's job.
        missing_data="notBreaching",
        unless=mn.AWAITING_CONSENT,
    ),
    AlarmSpec(
        name="RefresherNotRunning",
        description="The refresher was not invoked for five minutes (schedule disabled or deleted, throttled)",
        namespace="AWS/Lambda",
        metric="Invocations",
        dimensions={"FunctionName": Resource.REFRESHER_FUNCTION},
        statistic="Sum",
        period_s=_FIVE_MINUTES,
        threshold=1,
        comparison="LessThanThreshold",
        evaluation_periods=1,
        datapoints_to_alarm=1,
        missing_data="breaching",  # no invocation at all reports no datapoint: that is the failure
    ),
    _count_alarm(
        "FailureQueueMessages",
        "Failed or undeliverable refresher invocations were sent to the failure queue in the last five minutes",
        "AWS/SQS",
        "NumberOfMessagesSent",
        {"QueueName": Resource.FAILURE_QUEUE},
        period_s=_FIVE_MINUTES,
    ),
    _count_alarm(
        "ScheduleTargetErrors",
        "EventBridge Scheduler could not invoke the refresher (permissions, throttling, function missing)",
        "AWS/Scheduler",
        "TargetErrorCount",
        {"ScheduleGroup": Resource.SCHEDULE_GROUP},
        period_s=_FIVE_MINUTES,
    ),
    _count_alarm(
        "ScheduleDeadLetterFailures",
        "EventBridge Scheduler could not even write a failed invocation to the failure queue",
        "AWS/Scheduler",
        "InvocationsFailedToBeSentToDeadLetterCount",
        {"ScheduleGroup": Resource.SCHEDULE_GROUP},
        period_s=_FIVE_MINUTES,
    ),
    _count_alarm(
        "DestinationDeliveryFailures",
        "Lambda could not deliver a failed refresher invocation to the failure queue",
        "AWS/Lambda",
        "DestinationDeliveryFailures",
        {"FunctionName": Resource.REFRESHER_FUNCTION},
        period_s=_FIVE_MINUTES,
    ),
    _count_alarm(
        "RescueStoreWritten",
        "A refreshed token could only be saved in the rescue secret, or a refresh outcome is unknown",
        mn.NAMESPACE,
        mn.RESCUE_WRITES,
        _REFRESHER_DIMS,
        period_s=_ONE_MINUTE,
    ),
    _count_alarm(
        "ChainBroken",
        "Exact refused the stored refresh token for good and no newer consent exists: re-consent",
        mn.NAMESPACE,
        mn.CHAIN_BROKEN,
        _REFRESHER_DIMS,
        period_s=_ONE_MINUTE,
        statistic="Maximum",
    ),
    _count_alarm(
        "TokenCallsNearDailyLimit",
        "Calls to Exact's token endpoint today approach its limit of about 200 per user (normal: ~151)",
        mn.NAMESPACE,
        mn.TOKEN_CALLS_TODAY,
        _REFRESHER_DIMS,
        period_s=_FIVE_MINUTES,
        threshold=170,
        statistic="Maximum",
    ),
    _count_alarm(
        "LostAnswerResends",
        "Answers from Exact's token endpoint were lost three times in an hour (each one risks the chain)",
        mn.NAMESPACE,
        mn.LOST_ANSWER_RESENDS,
        _REFRESHER_DIMS,
        period_s=_ONE_HOUR,
        threshold=3,
    ),
    _count_alarm(
        "CorruptSlots",
        "A token slot holds a value that does not parse (the other slot serves meanwhile)",
        mn.NAMESPACE,
        mn.CORRUPT_SLOTS,
        _REFRESHER_DIMS,
        period_s=_ONE_MINUTE,
        statistic="Maximum",
    ),
    _count_alarm(
        "MalformedAnswers",
        "Exact answered a refresh successfully but oddly (no readable expires_in...); the token was stored anyway",
        mn.NAMESPACE,
        mn.MALFORMED_ANSWERS,
        _REFRESHER_DIMS,
        period_s=_FIVE_MINUTES,
    ),
    _count_alarm(
        "WebhookErrors",
        "The webhook receiver failed (not a refused signature: those answer 401)",
        "AWS/Lambda",
        "Errors",
        {"FunctionName": Resource.WEBHOOK_FUNCTION},
        period_s=_FIVE_MINUTES,
        component="webhook",
    ),
    _count_alarm(
        "WebhookThrottles",
        "Webhook deliveries were refused because the receiver's reserved concurrency was reached",
        "AWS/Lambda",
        "Throttles",
        {"FunctionName": Resource.WEBHOOK_FUNCTION},
        period_s=_FIVE_MINUTES,
        component="webhook",
    ),
    _count_alarm(
        "WebhookDeadLetters",
        "Webhook events your consumer failed five times wait in the dead-letter queue (redrive or purge them)",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": Resource.WEBHOOK_DEAD_LETTER_QUEUE},
        period_s=_FIVE_MINUTES,
        statistic="Maximum",
        component="webhook",
    ),
)
"""Every alarm of the token stack (the ``webhook`` ones only exist with the webhook receiver)."""


def alarm(name: str) -> AlarmSpec:
    """The spec named ``name`` (KeyError for an unknown one)."""
    for spec in ALARMS:
        if spec.name == name:
            return spec
    raise KeyError(name)


# --- evaluation ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Datapoint:
    """One emitted metric value at ``at`` (epoch seconds)."""

    at: float
    namespace: str
    metric: str
    value: float
    dimensions: Mapping[str, str] = field(default_factory=dict)


def refresher_datapoint(at: float, metric: str, value: float, dimensions: Mapping[str, str] | None = None) -> Datapoint:
    """A refresher metric as the Lambda handler emits it (Powertools adds the ``service`` dimension)."""
    return Datapoint(at, mn.NAMESPACE, metric, value, {"service": mn.SERVICE, **(dimensions or {})})


def invocation_datapoints(
    at: float, *, failed: bool = False, function: Resource = Resource.REFRESHER_FUNCTION
) -> list[Datapoint]:
    """What Lambda reports for one invocation of ``function``: ``Invocations`` 1 and ``Errors`` 1 or 0."""
    dims = {"FunctionName": function.value}
    return [
        Datapoint(at, "AWS/Lambda", "Invocations", 1.0, dims),
        Datapoint(at, "AWS/Lambda", "Errors", 1.0 if failed else 0.0, dims),
    ]


@dataclass(frozen=True)
class Transition:
    """An alarm changed state at the end of the period ending at ``at``."""

    alarm: str
    at: float
    state: State


def _aggregate(statistic: Statistic, values: Sequence[float]) -> float:
    if statistic == "Sum":
        return math.fsum(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "Maximum":
        return max(values)
    if statistic == "Average":
        return math.fsum(values) / len(values)
    return float(len(values))


def _matches(spec: AlarmSpec, point: Datapoint, resources: Mapping[Resource, str]) -> bool:
    if point.namespace != spec.namespace or point.metric != spec.metric:
        return False
    # CloudWatch matches a metric by its exact set of dimensions.
    wanted = {k: resources.get(v, v.value) if isinstance(v, Resource) else v for k, v in spec.dimensions.items()}
    return dict(point.dimensions) == wanted


def _buckets(period_s: int, points: Iterable[Datapoint], first: int, last: int) -> dict[int, list[float]]:
    buckets: dict[int, list[float]] = {}
    for point in points:
        index = math.floor(point.at / period_s)
        if first <= index < last:
            buckets.setdefault(index, []).append(point.value)
    return buckets


def _periods(
    spec: AlarmSpec, points: Sequence[Datapoint], gate: Sequence[Datapoint], start: float, end: float
) -> list[float | None]:
    """One aggregated value (or None: no data) per period aligned on multiples of the period, over [start, end);
    a period in which the ``unless`` gauge reached 1 counts as the spec's quiet value."""
    first, last = math.floor(start / spec.period_s), math.ceil(end / spec.period_s)
    buckets = _buckets(spec.period_s, points, first, last)
    gated = {i for i, values in _buckets(spec.period_s, gate, first, last).items() if max(values) >= 1}
    return [
        spec.quiet_value if i in gated else _aggregate(spec.statistic, buckets[i]) if i in buckets else None
        for i in range(first, last)
    ]


def _state(spec: AlarmSpec, window: Sequence[float | None], previous: State) -> State:
    present = [v for v in window if v is not None]
    if spec.missing_data in ("ignore", "missing"):
        if not present:
            return previous if spec.missing_data == "ignore" else "INSUFFICIENT_DATA"
        breaching = sum(spec.breaches(v) for v in present)
    else:
        missing = len(window) - len(present)
        breaching = sum(spec.breaches(v) for v in present) + (missing if spec.missing_data == "breaching" else 0)
    return "ALARM" if breaching >= spec.datapoints_to_alarm else "OK"


def evaluate(
    alarms: Iterable[AlarmSpec],
    datapoints: Iterable[Datapoint],
    *,
    start: float,
    end: float,
    resources: Mapping[Resource, str] | None = None,
) -> list[Transition]:
    """The state changes each alarm would make over ``[start, end)`` given these datapoints, in time order.

    Like CloudWatch: values are aggregated per period (periods aligned on multiples of their length) with the
    alarm's statistic; at the end of each period the last ``evaluation_periods`` periods are judged, missing ones
    as the alarm's ``missing_data`` says, and ``datapoints_to_alarm`` breaching ones raise it. An alarm starts in
    INSUFFICIENT_DATA; a period gated by the alarm's ``unless`` gauge counts as not breaching. (CloudWatch evaluates
    every minute over the same aligned periods; judging at each period's end finds the same transitions for the
    alarms of this table.)
    """
    points = list(datapoints)
    names = dict(resources or {})
    transitions: list[Transition] = []
    for spec in alarms:
        own = [p for p in points if _matches(spec, p, names)]
        gate_spec = dataclasses.replace(spec, metric=spec.unless) if spec.unless else None
        gate = [p for p in points if gate_spec is not None and _matches(gate_spec, p, names)]
        values = _periods(spec, own, gate, start, end)
        first = math.floor(start / spec.period_s)
        state: State = "INSUFFICIENT_DATA"
        for i in range(spec.evaluation_periods - 1, len(values)):
            window = values[i - spec.evaluation_periods + 1 : i + 1]
            new = _state(spec, window, state)
            if new != state:
                transitions.append(Transition(spec.name, float((first + i + 1) * spec.period_s), new))
                state = new
    return sorted(transitions, key=lambda t: (t.at, t.alarm))


def firing(
    alarms: Iterable[AlarmSpec],
    datapoints: Iterable[Datapoint],
    *,
    start: float,
    end: float,
    resources: Mapping[Resource, str] | None = None,
) -> set[str]:
    """The names of the alarms that would have gone to ALARM at least once over ``[start, end)``."""
    return {
        t.alarm for t in evaluate(alarms, datapoints, start=start, end=end, resources=resources) if t.state == "ALARM"
    }
