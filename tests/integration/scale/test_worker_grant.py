"""The worker policy grants exactly what the worker code calls: a worker's AWS calls, recorded over a moto server
while it syncs units end to end (the shared rate budget, cursor leases, the S3 landing zone, a crashed run's
recovery, a progress listing), map to the very action lists the stack's worker policy is built from, on items and
keys inside its ``LeadingKeys`` and prefix conditions.

Why not evaluate the policy itself: moto's IAM enforcement checks actions against ``*`` for DynamoDB (no table
ARN) and knows no ``dynamodb:LeadingKeys`` or ``s3:prefix`` condition, so it would pass or refuse for the wrong
reasons. The cdk test (tests/cdk/test_connections.py) pins the synthesized policy to the same lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import httpx
import pytest

from cdk.coordination import WORKER_ITEM_ACTIONS, WORKER_PREFIXES
from cdk.landing import LANDING_LIST_ACTIONS, LANDING_OBJECT_ACTIONS, LANDING_PREFIX
from cdk.token_slots import READ_ACTIONS
from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import SystemClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.exceptions import TransportError
from exact_online_sdk.scale import DynamoDbCursorStore, S3Sink, sync_to_s3

from .scenario import AWS_ENV, coordination_table

pytestmark = pytest.mark.slow

ACCOUNTS = "sync/CRM/Accounts"
S3_IAM_ACTION = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",  # S3 authorizes HEAD as GetObject
    "ListObjectsV2": "s3:ListBucket",
}


class Calls:
    """Every AWS call made in this process (service, operation, parameters), from botocore's own dispatch."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []
        original = botocore.client.BaseClient._make_api_call

        def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
            self.made.append((client.meta.service_model.endpoint_prefix, operation, dict(params)))
            return original(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    def of(self, service: str) -> list[tuple[str, dict[str, Any]]]:
        return [(op, params) for s, op, params in self.made if s == service]


class FailAfter(httpx.BaseTransport):
    """Loopback HTTP to the emulator; after ``pages`` answered sync pages, every further one is refused (the worker
    dies mid-run, as far as the run is concerned: its open run stays behind for the next worker to recover)."""

    def __init__(self, pages: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.left = pages

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/sync/" in request.url.path:
            if self.left <= 0:
                raise httpx.ConnectError("the worker's network is gone", request=request)
            self.left -= 1
        return self.inner.handle_request(request)


@pytest.fixture
def world(aws_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
    region = AWS_ENV["AWS_REGION"]
    slots = (f"exact/{uuid.uuid4().hex[:8]}/token-a", f"exact/{uuid.uuid4().hex[:8]}/token-b")
    sm = boto3.client("secretsmanager", region_name=region)
    for name in slots:
        sm.create_secret(Name=name)
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
    )
    config = EmulatorConfig(token_daily_limit=None, rows=2300, divisions=(1001,))
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        pair = emu.control.issue_token()
        now = SystemClock().now()
        token = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), 1)
        SecretsManagerTokenStorage(slots=slots, writable=True).save(token, expected_generation=None)
        monkeypatch.setenv("EXACT_COORDINATION_TABLE", table)
        yield {"emu": emu, "table": table, "bucket": bucket, "slots": slots}


def test_a_worker_calls_only_what_the_worker_policy_grants(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)  # from here on: what a worker does, nothing the refresher or the stack did

    def worker(transport: httpx.BaseTransport | None = None) -> ExactOnlineClient:
        # The one-line worker client: token from the slots, rate budget shared through the coordination table.
        options: dict[str, Any] = {"transport": transport} if transport is not None else {}
        return ExactOnlineClient.from_secrets_manager(slots=world["slots"], base_url=world["emu"].base_url, **options)

    cursors = DynamoDbCursorStore(world["table"], connection="acme")
    sink = S3Sink(world["bucket"], prefix=LANDING_PREFIX)
    with worker(FailAfter(pages=1)) as dying, pytest.raises(TransportError):
        sync_to_s3(dying, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    with worker() as client:
        resumed = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert resumed.status == "synced"
    assert resumed.recovered_run is not None  # the crashed run was found, listed and manifested
    assert [m["status"] for m in sink.manifests("acme", 1001, ACCOUNTS)] == ["recovered", "complete"]
    # A worker reporting where its units stand (the flow's summary, an operator's check).
    assert cursors.state(1001, ACCOUNTS) is not None
    assert [s.endpoint for s in cursors.states()] == [ACCOUNTS]

    # DynamoDB: exactly the worker grant's actions, on budget#/cursor# items only.
    table_calls = calls.of("dynamodb")
    assert {f"dynamodb:{op}" for op, _ in table_calls} == set(WORKER_ITEM_ACTIONS)
    for op, params in table_calls:
        assert params["TableName"] == world["table"]
        pk = params["Key"]["pk"]["S"] if "Key" in params else params["ExpressionAttributeValues"][":pk"]["S"]
        assert pk.startswith(WORKER_PREFIXES), (op, pk)
    # S3: put, get (and head) and list, under the landing prefix only.
    s3_calls = calls.of("s3")
    assert {S3_IAM_ACTION[op] for op, _ in s3_calls} == {*LANDING_OBJECT_ACTIONS, *LANDING_LIST_ACTIONS}
    for op, params in s3_calls:
        assert params["Bucket"] == world["bucket"]
        key = params.get("Key", params.get("Prefix", ""))
        assert key.startswith(f"{LANDING_PREFIX}/"), (op, key)
    # Secrets Manager: the token read grant, on the two slots.
    secret_calls = calls.of("secretsmanager")
    assert secret_calls
    assert {f"secretsmanager:{op}" for op, _ in secret_calls} <= set(READ_ACTIONS)
    assert {params["SecretId"] for _, params in secret_calls} <= set(world["slots"])
    # Nothing else: no other service, no table or bucket administration.
    assert {service for service, _, _ in calls.made} == {"dynamodb", "s3", "secretsmanager"}
