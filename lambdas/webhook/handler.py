"""Lambda entry point of the webhook receiver (Function URL, auth NONE: Exact cannot sign with SigV4).

Environment: ``EXACT_WEBHOOK_SECRET_ARN`` (a Secrets Manager secret whose value is the webhook secret),
``WEBHOOK_QUEUE_URL`` (where verified events go) and, optionally, ``EXACT_COORDINATION_TABLE`` (the stack's
DynamoDB table: replays are then recognised across all containers; without it, per container). Authenticity comes
from the HashCode, checked on the raw body; the ``EXACT_*`` variables are read through ``Settings``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

from exact_online_sdk.aws.webhook_receiver import DynamoDBDedupeStore, SqsSink, WebhookReceiver
from exact_online_sdk.config import Settings
from exact_online_sdk.webhooks import DedupeStore, MemoryDedupeStore

_SECRET_TTL_S = 300.0
_cache: dict[str, Any] = {}


def _settings() -> Settings:
    if "settings" not in _cache:
        _cache["settings"] = Settings()
    settings: Settings = _cache["settings"]
    return settings


def _webhook_secret() -> str:
    # Cached for a few minutes: the secret changes only when an operator rotates it.
    now = time.monotonic()
    if _cache.get("secret") is None or now - _cache.get("read_at", 0.0) > _SECRET_TTL_S:
        arn = _settings().webhook_secret_arn
        if not arn:
            raise RuntimeError("EXACT_WEBHOOK_SECRET_ARN is not set")
        value = boto3.client("secretsmanager").get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        _cache["secret"] = value["SecretString"]
        _cache["read_at"] = now
    return str(_cache["secret"])


def _dedupe() -> DedupeStore:
    table = _settings().coordination_table
    return DynamoDBDedupeStore(table) if table else MemoryDedupeStore()


def _receiver() -> WebhookReceiver:
    if "receiver" not in _cache:
        sink = SqsSink(os.environ["WEBHOOK_QUEUE_URL"])
        _cache["receiver"] = WebhookReceiver(_webhook_secret, sink, dedupe=_dedupe())
    receiver: WebhookReceiver = _cache["receiver"]
    return receiver


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Verify one delivery, drop it if it is a replay, else queue it."""
    return _receiver().handle(event)
