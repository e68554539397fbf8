"""Lambda entry point of the OAuth bootstrap (Function URL with IAM auth): first set-up and re-consent.

All logic is in :mod:`exact_online_sdk.aws.bootstrap` (tested without Lambda). Two SigV4-signed POSTs:
``{"action": "start"}`` -> the authorization URL and a signed, time-limited state; then, after consenting in a
browser, ``{"action": "complete", "callback_url": "<the URL the browser was redirected to>"}`` -> the token is
stored as generation 1 (empty slots) or the stored generation + 1. ``{"action": "status"}`` shows the stored
generation. The event is never logged (it carries the authorization code).

Configuration is :class:`exact_online_sdk.Settings` (set by the CDK construct): EXACT_TOKEN_SECRET_A,
EXACT_TOKEN_SECRET_B, EXACT_CLIENT_ID (optional),
EXACT_CLIENT_SECRET_ARN (a secret holding {"client_id", "client_secret", "redirect_uri"}), EXACT_BASE_URL,
EXACT_REDIRECT_URI (optional; else the secret's "redirect_uri").
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from exact_online_sdk.aws import BootstrapFlow, flow_from_env, handle_event
from exact_online_sdk.clock import Clock

logger = Logger(service="exact-token-bootstrap")
_state: dict[str, Any] = {"flow": None, "clock": None}


def configure(*, clock: Clock | None = None) -> None:
    """Tests and local runs: use this clock (shared with an emulator)."""
    _state.update(flow=None, clock=clock)


def _flow() -> BootstrapFlow:
    if _state["flow"] is None:
        _state["flow"] = flow_from_env(clock=_state["clock"])
    flow: BootstrapFlow = _state["flow"]
    return flow


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One signed invocation (Function URL event or direct invoke)."""
    return handle_event(_flow, event)
