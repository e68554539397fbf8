"""Issue 15.6 (receiver): the same signed delivery is handed on once per replay window, in one container (memory)
and across containers (the DynamoDB coordination table, conditional put); a delivery the sink could not take is
forgotten so Exact's next try gets through."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from exact_online_sdk.aws.local_url import invoke
from exact_online_sdk.aws.webhook_receiver import MAX_BODY_BYTES, DynamoDBDedupeStore, WebhookReceiver
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.webhooks import DEFAULT_REPLAY_TTL, MemoryDedupeStore, WebhookEvent, compute_hash_code
from tests.support.modules import load_file_module
from tests.support.stack_resources import create_coordination_table

ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec-replay-0042"
REGION = "eu-west-1"


def content(key: str = "6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10", created: str = "2026-11-25T10:00:00") -> bytes:
    return (
        b'{"Topic":"Accounts","ClientId":"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d111","Division":1001,"Action":"Update",'
        b'"Key":"' + key.encode() + b'","ExactOnlineEndpoint":"https://start.exactonline.nl/api/v1/1001/crm/'
        b"Accounts(guid'" + key.encode() + b'\')","EventCreatedOn":"' + created.encode() + b'"}'
    )


def signed(body: bytes | None = None) -> bytes:
    body = content() if body is None else body
    return b'{"Content":' + body + b',"HashCode":"' + compute_hash_code(body, SECRET).encode() + b'"}'


def post(body: bytes) -> dict[str, Any]:
    return {"requestContext": {"http": {"method": "POST"}}, "body": body.decode(), "isBase64Encoded": False}


def status_and_message(answer: dict[str, Any]) -> tuple[int, str]:
    import json

    return answer["statusCode"], json.loads(answer["body"])["message"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


def test_a_replayed_delivery_reaches_the_sink_once(clock: ManualClock) -> None:
    sunk: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, sunk.append, clock=clock)
    assert status_and_message(receiver.handle(post(signed()))) == (200, "accepted")
    for _ in range(50):  # an attacker who captured one delivery replays it
        assert status_and_message(receiver.handle(post(signed()))) == (200, "duplicate")
    assert len(sunk) == 1


def test_other_deliveries_and_later_replays_get_through(clock: ManualClock) -> None:
    sunk: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, sunk.append, clock=clock, replay_ttl=3600)
    receiver.handle(post(signed()))
    receiver.handle(post(signed(content(created="2026-11-25T10:00:01"))))  # a new event for the same record
    receiver.handle(post(signed(content(key="11111111-2222-3333-4444-555555555555"))))
    assert len(sunk) == 3
    clock.advance(3599)
    assert status_and_message(receiver.handle(post(signed())))[1] == "duplicate"
    clock.advance(2)
    assert status_and_message(receiver.handle(post(signed())))[1] == "accepted"
    assert len(sunk) == 4


def test_a_delivery_the_sink_could_not_take_is_not_remembered(clock: ManualClock) -> None:
    taken: list[WebhookEvent] = []
    failures = iter([True, False])

    def flaky(event: WebhookEvent) -> None:
        if next(failures):
            raise ConnectionError("queue unavailable")
        taken.append(event)

    receiver = WebhookReceiver(SECRET, flaky, clock=clock)
    with pytest.raises(ConnectionError):
        receiver.handle(post(signed()))  # Lambda answers 5xx: Exact tries again
    assert status_and_message(receiver.handle(post(signed()))) == (200, "accepted")
    assert len(taken) == 1


def test_the_memory_store_is_bounded() -> None:
    store = MemoryDedupeStore(max_entries=3)
    for key in "abcd":
        assert store.first_seen(key, now=0.0, ttl=60)
    assert len(store) == 3
    assert store.first_seen("a", now=1.0, ttl=60)  # the oldest was dropped to stay within the bound
    assert not store.first_seen("d", now=1.0, ttl=60)


def test_oversized_bodies_are_refused_before_verification(clock: ManualClock) -> None:
    receiver = WebhookReceiver(SECRET, lambda event: None, clock=clock)
    huge = b'{"Content":{"x":"' + b"a" * MAX_BODY_BYTES + b'"},"HashCode":"00"}'
    assert receiver.handle(post(huge))["statusCode"] == 413


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_coordination_table(dynamodb, "coordination")  # as the stack makes it: pk/sk, on demand, TTL
        yield dynamodb


def test_containers_sharing_the_coordination_table_hand_a_replay_on_once(table: Any, clock: ManualClock) -> None:
    sunk: list[WebhookEvent] = []
    containers = [
        WebhookReceiver(SECRET, sunk.append, dedupe=DynamoDBDedupeStore("coordination", table), clock=clock)
        for _ in range(3)
    ]
    answers = [status_and_message(c.handle(post(signed())))[1] for c in containers]
    assert answers == ["accepted", "duplicate", "duplicate"]
    assert len(sunk) == 1
    [item] = table.scan(TableName="coordination")["Items"]
    assert item["pk"]["S"].startswith("webhook#")
    assert item["sk"]["S"] == "delivery"
    assert int(item["expires_at"]["N"]) == int(clock.now() + DEFAULT_REPLAY_TTL)


def test_an_expired_record_no_longer_blocks_even_before_dynamodb_deletes_it(table: Any, clock: ManualClock) -> None:
    store = DynamoDBDedupeStore("coordination", table)
    assert store.first_seen("k", now=clock.now(), ttl=60)
    assert not store.first_seen("k", now=clock.now() + 59, ttl=60)
    assert store.first_seen("k", now=clock.now() + 61, ttl=60)  # TTL deletion is lazy; the condition is not
    store.forget("k")
    assert store.first_seen("k", now=clock.now() + 62, ttl=60)


def test_an_unreachable_store_delivers_rather_than_loses(clock: ManualClock) -> None:
    class Down:
        def first_seen(self, key: str, *, now: float, ttl: float) -> bool:
            raise ConnectionError("dynamodb unreachable")

        def forget(self, key: str) -> None:
            raise ConnectionError("dynamodb unreachable")

    sunk: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, sunk.append, dedupe=Down(), clock=clock)
    assert status_and_message(receiver.handle(post(signed())))[1] == "accepted"
    assert len(sunk) == 1


def _load_handler() -> Any:
    return load_file_module(ROOT / "lambdas/webhook/handler.py", "webhook_handler_replay")


@pytest.mark.parametrize("shared", [True, False], ids=["coordination-table", "per-container"])
def test_the_lambda_handler_dedupes_with_the_table_when_configured(
    table: Any, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name="wh", SecretString=SECRET)["ARN"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="exact-webhooks")["QueueUrl"]
    monkeypatch.setenv("EXACT_WEBHOOK_SECRET_ARN", arn)
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", queue)
    if shared:
        monkeypatch.setenv("EXACT_COORDINATION_TABLE", "coordination")
    else:
        monkeypatch.delenv("EXACT_COORDINATION_TABLE", raising=False)
    try:
        first, second = _load_handler(), _load_handler()  # two containers
        assert invoke(first.handler, "POST", signed()) == (200, {"message": "accepted"})
        assert invoke(first.handler, "POST", signed()) == (200, {"message": "duplicate"})
        expected = "duplicate" if shared else "accepted"  # without the table, each container remembers alone
        assert invoke(second.handler, "POST", signed()) == (200, {"message": expected})
    finally:
        sys.modules.pop("webhook_handler_replay", None)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(received) == (1 if shared else 2)
    assert received[0]["Body"] == content().decode()  # the signed bytes, not a re-serialisation
