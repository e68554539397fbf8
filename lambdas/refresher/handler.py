"""Lambda entry point of the token refresher: a thin Powertools shell (Logger, Metrics as EMF, Tracer) around
:class:`exact_online_sdk.aws.TokenRefresher`, which holds all the logic and is tested on its own.

Environment (set by the CDK construct): EXACT_TOKEN_SECRET_A, EXACT_TOKEN_SECRET_B, EXACT_RESCUE_SECRET,
EXACT_CLIENT_ID, EXACT_CLIENT_SECRET_ARN (a secret holding {"client_secret": "..."}), EXACT_BASE_URL.
The refresher object lives at module level so a warm container keeps a token it could not store yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import single_metric

from exact_online_sdk.auth.oauth import OAuthEndpoint
from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.aws.app_credentials import load_app_credentials
from exact_online_sdk.aws.refresher import MetricsSink, RefreshFailed, TokenRefresher
from exact_online_sdk.aws.rescue import RescueStore
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import Clock, SystemClock

logger = Logger(service=mn.SERVICE)
metrics = Metrics(namespace=mn.NAMESPACE, service=mn.SERVICE)
tracer = Tracer(service=mn.SERVICE)

SAFETY_MARGIN_S = 20.0  # keep this much of the Lambda timeout for the refresh and the write after a wait
_state: dict[str, Any] = {"refresher": None, "clock": None, "tap": None}


class PowertoolsMetrics:
    """MetricsSink writing EMF through Powertools; metrics with a dimension get their own EMF record."""

    def __init__(self, tap: MetricsSink | None = None) -> None:
        self.tap = tap

    def put(self, name: str, value: float, unit: str, dimensions: Mapping[str, str] | None = None) -> None:
        if self.tap is not None:
            self.tap.put(name, value, unit, dimensions)
        if dimensions:
            with single_metric(name=name, unit=unit, value=value, namespace=mn.NAMESPACE) as metric:
                metric.add_dimension(name="service", value=mn.SERVICE)
                for key, dim in dimensions.items():
                    metric.add_dimension(name=key, value=dim)
        else:
            metrics.add_metric(name=name, unit=unit, value=value)


def configure(*, clock: Clock | None = None, tap: MetricsSink | None = None) -> None:
    """Tests and local runs: use this clock (shared with an emulator) and copy metrics to ``tap``."""
    _state.update(refresher=None, clock=clock, tap=tap)


def build_refresher(environ: Mapping[str, str] | None = None) -> TokenRefresher:
    """The refresher for this environment (module-level singleton per container)."""
    env = os.environ if environ is None else environ
    clock: Clock = _state["clock"] or SystemClock()
    secrets = make_secretsmanager_client()
    store = SecretsManagerTokenStorage.from_env(env, client=secrets, clock=clock, writer="refresher")
    rescue_id = env.get("EXACT_RESCUE_SECRET")
    rescue = RescueStore(rescue_id, client=secrets, clock=clock) if rescue_id else None
    creds = load_app_credentials(env, secrets)
    endpoint = OAuthEndpoint(
        env.get("EXACT_BASE_URL", "https://start.exactonline.nl"),
        creds.client_id,
        creds.client_secret,
        # A refresh sends no redirect URI; the endpoint class requires one for code exchanges only.
        creds.redirect_uri or "https://localhost/unused-by-refresh",
        clock=clock,
        timeout=15.0,
        writer="refresher",
    )
    return TokenRefresher(store, endpoint.refresh, clock=clock, metrics=PowertoolsMetrics(_state["tap"]), rescue=rescue)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One scheduled run. Raises on failure so Lambda records an error and the on-failure queue gets the event."""
    refresher = _state["refresher"]
    if refresher is None:
        refresher = _state["refresher"] = build_refresher()
    remaining = context.get_remaining_time_in_millis() / 1000.0
    max_wait = max(0.0, min(refresher.policy.max_wait, remaining - SAFETY_MARGIN_S))
    try:
        outcome = refresher.run(max_wait=max_wait)
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
