"""The webhook receiver behind a Lambda Function URL: verify Exact's delivery, hand the event on, answer fast.

Exact posts ``{"Content":{...},"HashCode":"..."}``; the receiver verifies the HashCode on the raw body
(:func:`exact_online_sdk.webhooks.verify_delivery`), answers Exact's empty validation POST with 200, and passes each
verified event to a *sink* (an SQS queue in production, so slow work never delays the answer to Exact). A delivery
that fails verification is refused with 401 and never reaches the sink; no secret or body appears in the logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import edm
from ..webhooks import WebhookEvent, WebhookFormatError, WebhookSignatureError, is_validation_request, verify_delivery

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsSink", "WebhookReceiver"]

log = logging.getLogger("exact_online_sdk.aws.webhook_receiver")

Sink = Callable[[WebhookEvent], None]


def _response(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message}),
    }


class WebhookReceiver:
    """Turns Function URL events into verified webhook events for ``sink``.

    ``secret`` is the webhook secret, or a function returning it (read lazily, e.g. from Secrets Manager).
    """

    def __init__(self, secret: str | Callable[[], str], sink: Sink) -> None:
        self._secret = secret
        self.sink = sink

    def __repr__(self) -> str:
        return f"WebhookReceiver(secret=***, sink={self.sink!r})"

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
        try:
            body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
        except (binascii.Error, ValueError):
            return _response(400, "body is not valid base64")
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
        self.sink(delivery)
        log.info(
            "accepted webhook %s %s division=%s key=%s",
            delivery.topic,
            delivery.action,
            delivery.division,
            delivery.key,
        )
        return _response(200, "accepted")


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
