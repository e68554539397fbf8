"""Lambda entry point of the webhook receiver (Function URL, auth NONE: Exact cannot sign with SigV4).

Environment: ``EXACT_WEBHOOK_SECRET_ARN`` (a Secrets Manager secret whose value is the webhook secret) and
``WEBHOOK_QUEUE_URL`` (where verified events go). Authenticity comes from the HashCode, checked on the raw body.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

from exact_online_sdk.aws.webhook_receiver import SqsSink, WebhookReceiver

_SECRET_TTL_S = 300.0
_cache: dict[str, Any] = {}


def _webhook_secret() -> str:
    # Cached for a few minutes: the secret changes only when an operator rotates it.
    now = time.monotonic()
    if _cache.get("secret") is None or now - _cache.get("read_at", 0.0) > _SECRET_TTL_S:
        arn = os.environ["EXACT_WEBHOOK_SECRET_ARN"]
        value = boto3.client("secretsmanager").get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        _cache["secret"] = value["SecretString"]
        _cache["read_at"] = now
    return str(_cache["secret"])


def _receiver() -> WebhookReceiver:
    if "receiver" not in _cache:
        _cache["receiver"] = WebhookReceiver(_webhook_secret, SqsSink(os.environ["WEBHOOK_QUEUE_URL"]))
    receiver: WebhookReceiver = _cache["receiver"]
    return receiver


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Verify one delivery and queue it."""
    return _receiver().handle(event)
