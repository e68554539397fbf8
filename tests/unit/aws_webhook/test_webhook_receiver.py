"""The webhook receiver Lambda: real handler module, moto for Secrets Manager and SQS."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from moto import mock_aws

from exact_online_sdk.aws.local_url import invoke, serve_function_url
from exact_online_sdk.webhooks import compute_hash_code

ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec-canary-77aa"
CONTENT = (
    b'{"Topic":"SalesInvoices","ClientId":"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d111","Division":1001,"Action":"Update",'
    b'"Key":"6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10","ExactOnlineEndpoint":"https://start.exactonline.nl/api/v1/1001/'
    b'salesinvoice/SalesInvoices(guid\'6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10\')","EventCreatedOn":"2026-11-25T10:00:00"}'
)


def signed(content: bytes = CONTENT, secret: str = SECRET) -> bytes:
    return b'{"Content":' + content + b',"HashCode":"' + compute_hash_code(content, secret).encode() + b'"}'


@pytest.fixture
def lambda_env(monkeypatch):
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = sm.create_secret(Name="exact/webhook-secret", SecretString=SECRET)["ARN"]
        sqs = boto3.client("sqs", region_name="eu-west-1")
        queue = sqs.create_queue(QueueName="exact-webhooks")["QueueUrl"]
        monkeypatch.setenv("EXACT_WEBHOOK_SECRET_ARN", arn)
        monkeypatch.setenv("WEBHOOK_QUEUE_URL", queue)
        spec = importlib.util.spec_from_file_location("webhook_handler", ROOT / "lambdas/webhook/handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module, sqs, queue
        sys.modules.pop("webhook_handler", None)


def queued(sqs, queue):
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return messages.get("Messages", [])


def test_valid_delivery_is_queued_with_its_content(lambda_env):
    module, sqs, queue = lambda_env
    status, body = invoke(module.handler, "POST", signed())
    assert (status, body) == (200, {"message": "accepted"})
    [message] = queued(sqs, queue)
    assert json.loads(message["Body"]) == json.loads(CONTENT)
    assert message["MessageAttributes"]["Topic"]["StringValue"] == "SalesInvoices"


def test_tampered_or_foreign_deliveries_are_refused_and_never_queued(lambda_env, caplog):
    module, sqs, queue = lambda_env
    assert invoke(module.handler, "POST", signed().replace(b"1001", b"1002"))[0] == 401
    assert invoke(module.handler, "POST", signed(secret="other"))[0] == 401
    assert invoke(module.handler, "POST", b"<html>hi</html>")[0] == 400
    assert invoke(module.handler, "GET", b"")[0] == 405
    assert queued(sqs, queue) == []
    assert SECRET not in caplog.text


def test_empty_validation_post_gets_200_and_queues_nothing(lambda_env):
    module, sqs, queue = lambda_env
    assert invoke(module.handler, "POST", b"")[0] == 200
    assert queued(sqs, queue) == []


def test_served_on_loopback_like_a_function_url(lambda_env):
    module, sqs, queue = lambda_env
    with serve_function_url(module.handler) as url:
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.post(url, content=signed(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 200
        assert httpx.post(url, content=b"").status_code == 200
    assert len(queued(sqs, queue)) == 1
