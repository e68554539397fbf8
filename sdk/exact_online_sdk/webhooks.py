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
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from . import edm
from .exceptions import ExactOnlineError

if TYPE_CHECKING:
    from .client import AsyncExactOnlineClient, ExactOnlineClient

__all__ = [
    "DEFAULT_REPLAY_TTL",
    "SUBSCRIPTIONS_PATH",
    "DedupeStore",
    "DesiredSubscription",
    "MemoryDedupeStore",
    "ReconcilePlan",
    "WebhookError",
    "WebhookEvent",
    "WebhookFormatError",
    "WebhookSignatureError",
    "compute_hash_code",
    "delivery_key",
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
    raw_content: bytes = field(default=b"", repr=False)
    """The ``Content`` bytes exactly as Exact signed them (what a queue should carry: no re-serialisation)."""


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
        data = edm.loads(content)
    except edm.JSONFormatError as exc:
        raise WebhookFormatError(f"Content is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WebhookFormatError("Content is not a JSON object")
    try:
        created = data.get("EventCreatedOn")
        return WebhookEvent(
            topic=_text(data, "Topic"),
            action=_text(data, "Action"),
            division=_division(data),
            key=_text(data, "Key"),
            endpoint=_text(data, "ExactOnlineEndpoint"),
            client_id=_text(data, "ClientId", ""),
            event_created_on=None if created is None else str(created)[:100],
            content=data,
            raw_content=bytes(content),
        )
    except KeyError as exc:
        raise WebhookFormatError(f"Content lacks or mistypes a field: {exc}") from None


def _text(data: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if value is None:
        raise KeyError(name)
    if not isinstance(value, str):
        raise WebhookFormatError(f"Content lacks or mistypes a field: {name} is a JSON {type(value).__name__}")
    return value


def _division(data: Mapping[str, Any]) -> int:
    try:
        division = edm.parse_int(data["Division"], "Edm.Int32")
    except edm.EdmValueError as exc:
        raise WebhookFormatError(f"Content lacks or mistypes a field: Division is {exc}") from None
    if division is None:
        raise KeyError("Division")
    return division


# --- replays ---------------------------------------------------------------------------------------------------

DEFAULT_REPLAY_TTL: Final = 24 * 3600.0
"""Seconds a delivery is remembered: a replay of the same signed Content inside this window is answered 200 and not
handed on. A day covers Exact's own re-sends of a delivery it thinks failed; a replay later than that costs one
duplicate event (consumers stay idempotent: the event carries no data, they read the record)."""


def delivery_key(event: WebhookEvent) -> str:
    """The identity of a delivery for replay detection: SHA-256 of the signed ``Content`` bytes."""
    content = event.raw_content or _canonical_bytes(event.content)
    return hashlib.sha256(content).hexdigest()


def _canonical_bytes(content: Mapping[str, Any]) -> bytes:
    """``content`` serialised canonically (only for events built without their raw bytes)."""
    return edm.dumps(dict(sorted(content.items())))


@runtime_checkable
class DedupeStore(Protocol):
    """Where seen deliveries are remembered. ``first_seen`` must be atomic: of two concurrent calls with one key,
    exactly one returns True."""

    def first_seen(self, key: str, *, now: float, ttl: float) -> bool:
        """Record ``key`` until ``now + ttl``; True when it was not already recorded (or its record expired)."""
        ...

    def forget(self, key: str) -> None:
        """Drop the record of ``key`` (its delivery could not be handed on: let the next try through)."""
        ...


class MemoryDedupeStore:
    """Seen deliveries in this process only (per Lambda container): bounded, oldest dropped first.

    Replays that land on another container get through; give all containers one store with
    :class:`~exact_online_sdk.aws.webhook_receiver.DynamoDBDedupeStore`."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_seen(self, key: str, *, now: float, ttl: float) -> bool:
        with self._lock:
            expires = self._expiry.get(key)
            if expires is not None and expires > now:
                return False
            self._expiry.pop(key, None)
            self._expiry[key] = now + ttl
            while len(self._expiry) > self.max_entries:
                self._expiry.popitem(last=False)
            return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        return len(self._expiry)


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
