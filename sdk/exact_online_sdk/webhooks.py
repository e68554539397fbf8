"""Exact Online webhooks: verify deliveries, answer the validation POST, keep subscriptions as declared.

A delivery's body is ``{"Content":{...},"HashCode":"<64 uppercase hex>"}``. There is no signature header:
``HashCode`` is the uppercase hex HMAC-SHA256, keyed with the app's webhook secret, of the *raw bytes* of the
``Content`` value exactly as they were sent (FACTS §5). We therefore verify on the raw body before parsing it, and
compare in constant time. Re-serialising the JSON first would change the bytes and is never done here.

About a second after a subscription is created, Exact POSTs an empty body to the callback; the callback must answer
2xx for the subscription to become active (:func:`is_validation_request`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .exceptions import ExactOnlineError

if TYPE_CHECKING:
    from .client import AsyncExactOnlineClient, ExactOnlineClient

__all__ = [
    "SUBSCRIPTIONS_PATH",
    "DesiredSubscription",
    "ReconcilePlan",
    "WebhookError",
    "WebhookEvent",
    "WebhookFormatError",
    "WebhookSignatureError",
    "compute_hash_code",
    "is_validation_request",
    "plan_reconcile",
    "reconcile",
    "reconcile_async",
    "verify_delivery",
]

SUBSCRIPTIONS_PATH: Final = "webhooks/WebhookSubscriptions"

# Exact's exact framing: Content first, HashCode last, no whitespace between (PQ-WH regex in FACTS §5).
_FRAME: Final = re.compile(rb'\A\{"Content":(?P<content>.*),"HashCode":"(?P<hash>[^"]*)"\}\s*\Z', re.DOTALL)


class WebhookError(ExactOnlineError, ValueError):
    """A webhook delivery was rejected."""


class WebhookFormatError(WebhookError):
    """The body is not an Exact webhook delivery (wrong framing, bad JSON, missing fields)."""


class WebhookSignatureError(WebhookError):
    """The HashCode does not match the body: forged, tampered, re-serialised, or signed with another secret."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One verified delivery. The message carries no record data: GET ``endpoint`` to read the record."""

    topic: str
    action: str
    division: int
    key: str
    endpoint: str
    client_id: str
    event_created_on: str | None
    content: Mapping[str, Any] = field(repr=False)


def is_validation_request(body: bytes) -> bool:
    """True for Exact's empty validation POST (answer it with 2xx, and do nothing else)."""
    return len(body.strip()) == 0


def compute_hash_code(content: bytes, secret: str | bytes) -> str:
    """Exact's HashCode for the raw ``Content`` bytes: uppercase hex HMAC-SHA256."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, content, hashlib.sha256).hexdigest().upper()


def verify_delivery(body: bytes, secret: str | bytes) -> WebhookEvent:
    """Verify a delivery's raw body and return its event; raises WebhookSignatureError or WebhookFormatError.

    Pass the body bytes exactly as received (for a Lambda Function URL, base64-decode ``body`` when
    ``isBase64Encoded`` is true; never ``json.loads`` and ``json.dumps`` it first).
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("verify_delivery needs the raw body as bytes")
    if not secret:
        raise ValueError("the webhook secret is empty")
    match = _FRAME.match(bytes(body))
    if match is None:
        raise WebhookFormatError('body is not framed as {"Content":...,"HashCode":"..."}')
    content, received = match.group("content"), match.group("hash")
    expected = compute_hash_code(content, secret).encode("ascii")
    if not hmac.compare_digest(expected, received):
        raise WebhookSignatureError("HashCode does not match the delivery body")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise WebhookFormatError("Content is not valid JSON") from exc
    if not isinstance(data, dict):
        raise WebhookFormatError("Content is not a JSON object")
    try:
        return WebhookEvent(
            topic=str(data["Topic"]),
            action=str(data["Action"]),
            division=int(data["Division"]),
            key=str(data["Key"]),
            endpoint=str(data["ExactOnlineEndpoint"]),
            client_id=str(data.get("ClientId", "")),
            event_created_on=None if data.get("EventCreatedOn") is None else str(data["EventCreatedOn"]),
            content=data,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookFormatError(f"Content lacks or mistypes a field: {exc}") from exc


# --- subscription reconciler --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class DesiredSubscription:
    """A subscription that should exist: a topic delivered to a callback URL (HTTPS in production)."""

    topic: str
    callback_url: str


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """What to change so the subscriptions match: Exact has no update, so a change is delete + create."""

    create: tuple[DesiredSubscription, ...]
    delete: tuple[uuid.UUID, ...]
    keep: tuple[uuid.UUID, ...]

    @property
    def changes(self) -> int:
        """Number of calls the plan makes."""
        return len(self.create) + len(self.delete)


def plan_reconcile(
    existing: Iterable[Mapping[str, Any]],
    desired: Iterable[DesiredSubscription],
    *,
    managed_callbacks: Iterable[str] | None = None,
) -> ReconcilePlan:
    """Compare existing subscription rows (Exact's shape) with the desired set.

    Only subscriptions whose callback is in ``managed_callbacks`` (default: the desired callbacks) are deleted, so
    subscriptions another deployment manages with other URLs are left alone. Duplicates are removed.
    """
    wanted = set(desired)
    managed = set(managed_callbacks) if managed_callbacks is not None else {d.callback_url for d in wanted}
    seen: set[DesiredSubscription] = set()
    delete: list[uuid.UUID] = []
    keep: list[uuid.UUID] = []
    for row in existing:
        sub = DesiredSubscription(str(row.get("Topic", "")), str(row.get("CallbackURL", "")))
        row_id = uuid.UUID(str(row["ID"]))
        if sub in wanted and sub not in seen:
            seen.add(sub)
            keep.append(row_id)
        elif sub.callback_url in managed:
            delete.append(row_id)
    create = tuple(sorted(wanted - seen))
    return ReconcilePlan(create=create, delete=tuple(delete), keep=tuple(keep))


def _row_path(sub_id: uuid.UUID) -> str:
    return f"{SUBSCRIPTIONS_PATH}(guid'{sub_id}')"


def _body(sub: DesiredSubscription) -> dict[str, str]:
    return {"CallbackURL": sub.callback_url, "Topic": sub.topic}


def reconcile(
    client: ExactOnlineClient,
    desired: Iterable[DesiredSubscription],
    *,
    division: int | None = None,
    managed_callbacks: Iterable[str] | None = None,
    dry_run: bool = False,
) -> ReconcilePlan:
    """Make the app's subscriptions in ``division`` match ``desired`` (creates first, then deletes)."""
    existing = list(client.iter_rows(SUBSCRIPTIONS_PATH, division=division))
    plan = plan_reconcile(existing, desired, managed_callbacks=managed_callbacks)
    if not dry_run:
        for sub in plan.create:
            client.post(SUBSCRIPTIONS_PATH, _body(sub), division=division)
        for sub_id in plan.delete:
            client.delete(_row_path(sub_id), division=division)
    return plan


async def reconcile_async(
    client: AsyncExactOnlineClient,
    desired: Iterable[DesiredSubscription],
    *,
    division: int | None = None,
    managed_callbacks: Iterable[str] | None = None,
    dry_run: bool = False,
) -> ReconcilePlan:
    """The asyncio form of :func:`reconcile`."""
    existing = [row async for row in client.iter_rows(SUBSCRIPTIONS_PATH, division=division)]
    plan = plan_reconcile(existing, desired, managed_callbacks=managed_callbacks)
    if not dry_run:
        for sub in plan.create:
            await client.post(SUBSCRIPTIONS_PATH, _body(sub), division=division)
        for sub_id in plan.delete:
            await client.delete(_row_path(sub_id), division=division)
    return plan
