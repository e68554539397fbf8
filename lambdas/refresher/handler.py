"""Lambda entry point of the token refresher: a thin Powertools shell (Logger, Metrics as EMF, Tracer) around
:class:`exact_online_sdk.aws.TokenRefresher`, which holds all the logic and is tested on its own.

Configuration is :class:`exact_online_sdk.Settings` (set by the CDK construct): EXACT_TOKEN_SECRET_A,
EXACT_TOKEN_SECRET_B, EXACT_RESCUE_SECRET, EXACT_CLIENT_ID, EXACT_CLIENT_SECRET_ARN (a secret holding
{"client_secret": "..."}), EXACT_BASE_URL and, optionally, EXACT_COORDINATION_TABLE (the lease that keeps twin
invocations away from Exact at the same time; without it the refresher works as before, without a lease).
The refresher object lives at module level so a warm container keeps a token it could not store yet.
Every Exact call, back-off and write of a run fits the invocation's remaining time minus ``SAFETY_MARGIN_S``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from exact_online_sdk import Settings
from exact_online_sdk.aws import MetricsSink, RefreshFailed, TokenRefresher
from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.clock import Clock, SystemClock

logger = Logger(service=mn.SERVICE)
metrics = Metrics(namespace=mn.NAMESPACE, service=mn.SERVICE)
tracer = Tracer(service=mn.SERVICE)

SAFETY_MARGIN_S = 5.0
"""Kept free at the end of an invocation for the handler's own work (metrics flush, logging)."""
_state: dict[str, Any] = {"refresher": None, "clock": None, "tap": None, "http": None}


class PowertoolsMetrics:
    """MetricsSink writing EMF through Powertools; metrics with a dimension get their own EMF record."""

    def __init__(self, tap: MetricsSink | None = None) -> None:
        self.tap = tap

    def put(self, name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None:
        if self.tap is not None:
            self.tap.put(name, value, unit, dimensions)
        metric_unit = MetricUnit(unit)
        if dimensions:
            with single_metric(name=name, unit=metric_unit, value=value, namespace=mn.NAMESPACE) as metric:
                metric.add_dimension(name="service", value=mn.SERVICE)
                for key, dim in dimensions.items():
                    metric.add_dimension(name=key, value=dim)
        else:
            metrics.add_metric(name=name, unit=metric_unit, value=value)


def configure(
    *, clock: Clock | None = None, tap: MetricsSink | None = None, http_client: httpx.Client | None = None
) -> None:
    """Tests and local runs: use this clock (shared with an emulator), copy metrics to ``tap``, and send Exact
    calls through ``http_client``."""
    _state.update(refresher=None, clock=clock, tap=tap, http=http_client)


def build_refresher(settings: Settings | None = None) -> TokenRefresher:
    """The refresher for this environment (module-level singleton per container)."""
    return TokenRefresher.from_settings(
        settings or Settings(),
        clock=_state["clock"] or SystemClock(),
        metrics=PowertoolsMetrics(_state["tap"]),
        http_client=_state["http"],
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One scheduled run. Raises on failure so Lambda records an error and the on-failure queue gets the event."""
    refresher: TokenRefresher | None = _state["refresher"]
    if refresher is None:
        refresher = _state["refresher"] = build_refresher()
    remaining = context.get_remaining_time_in_millis() / 1000.0
    deadline = refresher.clock.local.now() + remaining - SAFETY_MARGIN_S
    try:
        outcome = refresher.run(deadline=deadline, invocation=getattr(context, "aws_request_id", None))
    except RefreshFailed as exc:
        logger.error("refresh failed", extra={"reason": exc.reason, "generation": exc.generation})
        raise
    result = {
        "action": outcome.action,
        "generation": outcome.generation,
        "seconds_left": round(outcome.seconds_left, 1),
        "slot": outcome.slot,
        "waited": round(outcome.waited, 1),
    }
    logger.info("refresher run done", extra=result)
    return result
