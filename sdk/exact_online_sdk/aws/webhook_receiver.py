"""The webhook receiver behind a Lambda Function URL: verify Exact's delivery, drop replays, hand the event on.

Exact posts ``{"Content":{...},"HashCode":"..."}``; the receiver verifies the HashCode on the raw body
(:func:`exact_online_sdk.webhooks.verify_delivery`), answers Exact's empty validation POST with 200, and passes each
verified event to a *sink* (an SQS queue in production, so slow work never delays the answer to Exact). A delivery
that fails verification is refused with 401 and never reaches the sink; no secret or body appears in the logs.

Replays: the same signed body is accepted once per ``replay_ttl`` (default a day). Deliveries are remembered by the
SHA-256 of their Content in a :class:`~exact_online_sdk.webhooks.DedupeStore`: in memory per container by default,
or in the stack's DynamoDB coordination table (:class:`DynamoDBDedupeStore`, a conditional put, so all containers
agree). A replay is answered 200 (``"duplicate"``) and never reaches the sink. If the store cannot be reached the
delivery is handed on anyway (a duplicate event is harmless to an idempotent consumer; a lost one is not).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .. import edm
from ..clock import Clock, SystemClock
from ..webhooks import (
    DEFAULT_REPLAY_TTL,
    DedupeStore,
    MemoryDedupeStore,
    WebhookEvent,
    WebhookFormatError,
    WebhookSignatureError,
    delivery_key,
    is_validation_request,
    verify_delivery,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["MAX_BODY_BYTES", "DynamoDBDedupeStore", "SqsSink", "WebhookReceiver"]

log = logging.getLogger("exact_online_sdk.aws.webhook_receiver")

Sink = Callable[[WebhookEvent], None]

MAX_BODY_BYTES: Final = 64 * 1024
"""The largest delivery read: Exact's are a few hundred bytes (ids, a topic, a URL). Larger bodies get 413."""


def _response(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message}),
    }


class WebhookReceiver:
    """Turns Function URL events into verified, de-duplicated webhook events for ``sink``.

    ``secret`` is the webhook secret, or a function returning it (read lazily, e.g. from Secrets Manager).
    ``dedupe`` remembers deliveries (default: :class:`~exact_online_sdk.webhooks.MemoryDedupeStore`, per process);
    ``replay_ttl`` is how long, in seconds; ``clock`` tells the time (tests pass a manual clock).
    """

    def __init__(
        self,
        secret: str | Callable[[], str],
        sink: Sink,
        *,
        dedupe: DedupeStore | None = None,
        replay_ttl: float = DEFAULT_REPLAY_TTL,
        clock: Clock | None = None,
    ) -> None:
        self._secret = secret
        self.sink = sink
        self.dedupe: DedupeStore = dedupe if dedupe is not None else MemoryDedupeStore()
        self.replay_ttl = replay_ttl
        self.clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"WebhookReceiver(secret=***, sink={self.sink!r}, dedupe={type(self.dedupe).__name__})"

    def _secret_value(self) -> str:
        return self._secret() if callable(self._secret) else self._secret

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """Use the receiver itself as a Lambda handler."""
        return self.handle(event)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one Function URL invocation (payload format 2.0)."""
        method = str(event.get("requestContext", {}).get("http", {}).get("method", "POST")).upper()
        if method != "POST":
            return _response(405, "only POST is accepted")
        raw = event.get("body") or ""
        if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:  # the base64 form of the largest body read
            return _response(413, "body too large for an Exact webhook delivery")
        try:
            body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
        except (binascii.Error, ValueError):
            return _response(400, "body is not valid base64")
        if len(body) > MAX_BODY_BYTES:
            return _response(413, "body too large for an Exact webhook delivery")
        if is_validation_request(body):
            log.info("answered Exact's webhook validation request")
            return _response(200, "validated")
        try:
            delivery = verify_delivery(body, self._secret_value())
        except WebhookSignatureError:
            log.warning("refused a webhook delivery whose HashCode does not match")
            return _response(401, "signature mismatch")
        except WebhookFormatError as exc:
            log.warning("refused a malformed webhook delivery: %s", type(exc).__name__)
            return _response(400, "not an Exact webhook delivery")
        key = delivery_key(delivery)
        if not self._first_seen(key):
            log.info(
                "ignored a replayed webhook %s %s division=%s key=%s",
                delivery.topic,
                delivery.action,
                delivery.division,
                delivery.key,
            )
            return _response(200, "duplicate")
        try:
            self.sink(delivery)
        except BaseException:
            self._forget(key)  # not handed on: Exact's next try (or a replay) must get through
            raise
        log.info(
            "accepted webhook %s %s division=%s key=%s",
            delivery.topic,
            delivery.action,
            delivery.division,
            delivery.key,
        )
        return _response(200, "accepted")

    def _first_seen(self, key: str) -> bool:
        try:
            return self.dedupe.first_seen(key, now=self.clock.now(), ttl=self.replay_ttl)
        except Exception as exc:  # any store failure: deliver rather than lose the event (see module docstring)
            log.warning("webhook dedupe store unavailable (%s): delivered without the check", type(exc).__name__)
            return True

    def _forget(self, key: str) -> None:
        try:
            self.dedupe.forget(key)
        except Exception as exc:  # the record expires on its own; the sink's error is the one to report
            log.warning("could not forget a webhook delivery in the dedupe store (%s)", type(exc).__name__)


class DynamoDBDedupeStore:
    """Seen deliveries in the stack's DynamoDB coordination table (``EXACT_COORDINATION_TABLE``), shared by every
    container: item ``pk="webhook#<sha256 of Content>"``, ``sk="delivery"``, ``expires_at`` (epoch seconds, the
    table's TTL attribute). A conditional put claims a key when no unexpired item holds it, so of two containers
    receiving the same body at once exactly one hands it on. Needs ``dynamodb:PutItem`` and ``dynamodb:DeleteItem``."""

    SORT_KEY: Final = "delivery"

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client: Any = client  # a boto3 DynamoDB client (no stubs for it in this project)

    def __repr__(self) -> str:
        return f"DynamoDBDedupeStore(table_name={self.table_name!r})"

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"webhook#{key}"}, "sk": {"S": self.SORT_KEY}}

    def first_seen(self, key: str, *, now: float, ttl: float) -> bool:
        # DynamoDB's TTL deletes expired items only eventually (up to days): the condition checks expiry itself.
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={**self._key(key), "expires_at": {"N": str(int(now + ttl))}},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget(self, key: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=self._key(key))


class SqsSink:
    """Sends each verified event's ``Content`` to an SQS queue as JSON."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.queue_url = queue_url
        self.client = client

    def __repr__(self) -> str:
        return f"SqsSink(queue_url={self.queue_url!r})"

    def __call__(self, event: WebhookEvent) -> None:
        # The Content bytes as Exact signed them: nothing re-serialised (numbers stay as Exact wrote them).
        body = event.raw_content.decode("utf-8") if event.raw_content else edm.dumps(dict(event.content)).decode()
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes={
                "Topic": {"DataType": "String", "StringValue": event.topic},
                "Division": {"DataType": "Number", "StringValue": str(event.division)},
            },
        )
