"""What CloudWatch would receive from the accelerated e2e: the refresher's EMF output and the AWS services' own metrics.

- :class:`EmfSink` stands in for the Lambda runtime's stdout: every line the handler prints that is an Embedded
  Metric Format record becomes datapoints, extracted the way CloudWatch Logs does it (each metric of each
  ``CloudWatchMetrics`` directive, once per dimension set, with the values the record carries). Nothing is
  re-computed from the refresher's state: a metric the handler does not print, or prints with other dimensions,
  is not there.
- :class:`AwsSide` models what the e2e has no real service for, from what the e2e does see: one ``Invocations``
  datapoint per delivery, ``Errors`` when the handler raised or Lambda killed it at its timeout, the on-failure
  destination (a message *sent* to the failure queue, or ``DestinationDeliveryFailures`` when the queue refuses),
  and EventBridge Scheduler (a disabled schedule invokes nothing; a target it cannot invoke is a
  ``TargetErrorCount`` and a dead letter, or ``InvocationsFailedToBeSentToDeadLetterCount`` when the queue refuses).

Every datapoint is stamped with the AWS clock of the moment it is written (an EMF record's timestamp is when
Powertools serialises it, on the Lambda's clock).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from exact_online_sdk.aws.alarms import ALARMS, AlarmSpec, Datapoint, Resource, Transition, evaluate

FUNCTION_NAME = "exact-token-refresher"
FAILURE_QUEUE = "exact-token-refresher-failures"
SCHEDULE_GROUP = "exact-token-schedules"
RESOURCES: Mapping[Resource, str] = {
    Resource.REFRESHER_FUNCTION: FUNCTION_NAME,
    Resource.FAILURE_QUEUE: FAILURE_QUEUE,
    Resource.SCHEDULE_GROUP: SCHEDULE_GROUP,
}
REFRESHER_ALARMS: tuple[AlarmSpec, ...] = tuple(spec for spec in ALARMS if spec.component == "refresher")


def emf_datapoints(record: Mapping[str, Any], at: float) -> list[Datapoint]:
    """The datapoints CloudWatch extracts from one EMF record (an empty list for anything else)."""
    meta = record.get("_aws")
    if not isinstance(meta, Mapping):
        return []
    points = []
    for directive in meta.get("CloudWatchMetrics", []):
        for dimension_set in directive.get("Dimensions", []):
            dimensions = {name: str(record[name]) for name in dimension_set}
            for metric in directive.get("Metrics", []):
                values = record.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    if value is not None:
                        points.append(Datapoint(at, directive["Namespace"], metric["Name"], float(value), dimensions))
    return points


class EmfSink(io.TextIOBase):
    """A stand-in for stdout: EMF lines become datapoints at ``now()``; any other line goes to ``passthrough``."""

    def __init__(self, now: Callable[[], float], passthrough: TextIO) -> None:
        super().__init__()
        self.now, self.passthrough = now, passthrough
        self.points: list[Datapoint] = []
        self.records = 0
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            buffered = self._partial.pop(threading.get_ident(), "") + text
            *lines, rest = buffered.split("\n")
            if rest:
                self._partial[threading.get_ident()] = rest
        for line in lines:
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        points = emf_datapoints(record, self.now()) if isinstance(record, dict) else []
        if not points:
            self.passthrough.write(line + "\n")
            return
        with self._lock:
            self.records += 1
            self.points.extend(points)


def isolate_metrics(module: Any) -> None:
    """Give one Lambda container's Powertools ``Metrics`` its own metric set.

    Powertools keeps the metric set at class level: in a real Lambda each container is a process of its own, here
    they share one, so without this an overlapping invocation would flush (print) another's metrics as its own."""
    provider = module.metrics.provider
    provider.metric_set, provider.dimension_set, provider.metadata_set = {}, {}, {}


@dataclass
class AwsSide:
    """The AWS services around the refresher, reduced to the metrics they report (see the module doc)."""

    now: Callable[[], float]
    points: list[Datapoint] = field(default_factory=list)
    schedule_enabled: bool = True
    target_reachable: bool = True
    """False: Lambda refuses the Scheduler's invoke (throttled, permission lost, function deleted)."""
    failure_queue_writable: bool = True
    """False: the failure queue refuses writes (deleted, policy or key changed)."""

    def _put(self, namespace: str, metric: str, dimensions: Mapping[str, str], value: float = 1.0) -> None:
        self.points.append(Datapoint(self.now(), namespace, metric, value, dict(dimensions)))

    def _lambda(self, metric: str, value: float = 1.0) -> None:
        self._put("AWS/Lambda", metric, {"FunctionName": FUNCTION_NAME}, value)

    def _scheduler(self, metric: str) -> None:
        self._put("AWS/Scheduler", metric, {"ScheduleGroup": SCHEDULE_GROUP})

    def _sent_to_failure_queue(self) -> bool:
        if self.failure_queue_writable:
            self._put("AWS/SQS", "NumberOfMessagesSent", {"QueueName": FAILURE_QUEUE})
        return self.failure_queue_writable

    def scheduled(self) -> bool:
        """The Scheduler's minute: True when Lambda is to run the handler (the metrics of the delivery are
        recorded either way)."""
        if not self.schedule_enabled:
            return False
        if not self.target_reachable:
            self._scheduler("TargetErrorCount")  # retries are 0: straight to the dead-letter queue
            if not self._sent_to_failure_queue():
                self._scheduler("InvocationsFailedToBeSentToDeadLetterCount")
            return False
        return True

    def wrap(self, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """The handler as Lambda runs it: an invocation counted when it starts, an error when it raises or is
        killed at its timeout, and the failed event sent to the on-failure destination (retries are 0)."""

        def invoke(event: Any, context: Any) -> Any:
            self._lambda("Invocations")
            try:
                result = handler(event, context)
            except BaseException:
                self._lambda("Errors", 1.0)
                if not self._sent_to_failure_queue():
                    self._lambda("DestinationDeliveryFailures")
                raise
            self._lambda("Errors", 0.0)
            return result

        return invoke


def transitions(
    points: Iterable[Datapoint], *, start: float, end: float, alarms: Iterable[AlarmSpec] = REFRESHER_ALARMS
) -> list[Transition]:
    """:func:`~exact_online_sdk.aws.alarms.evaluate` over the refresher's alarms with this module's resources."""
    return evaluate(alarms, points, start=start, end=end, resources=RESOURCES)


def alarmed(found: Iterable[Transition]) -> dict[str, list[float]]:
    """For each alarm that went to ALARM, the times it did."""
    times: dict[str, list[float]] = {}
    for transition in found:
        if transition.state == "ALARM":
            times.setdefault(transition.alarm, []).append(transition.at)
    return times
