"""The landing format and the cursor rules that need no server: JSON lines, names, cursors that never go back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.scale._aws import create_coordination_table
from exact_online_sdk.scale.cursors import CursorLeaseHeld, DynamoDbCursorStore
from exact_online_sdk.scale.sink import S3Sink, dumps_row
from exact_online_sdk.sync import SyncError


def test_rows_are_json_lines_with_exact_numbers() -> None:
    row = {
        "ID": "00000000-0000-0000-0000-000000000001",
        "AmountDC": Decimal("1234567890.123456789"),
        "Rate": Decimal("1E+2"),
        "Quantity": 3,
        "Blocked": False,
        "Remarks": None,
        "Name": 'Café "Zuid"\n',
        "Lines": [{"Amount": Decimal("-0.10")}],
        "Created": "/Date(1767225600000)/",
    }
    text = dumps_row(row)
    assert "\n" not in text
    assert '"AmountDC":1234567890.123456789' in text
    assert '"Amount":-0.10' in text
    back = json.loads(text, parse_float=Decimal)
    assert back == row


def test_names_that_would_break_the_partition_path_are_refused() -> None:
    sink = S3Sink("bucket", client=object())  # type: ignore[arg-type]
    assert sink.unit_prefix("acme", 1001, "sync/CRM/Accounts") == (
        "exact-online/connection=acme/division=1001/endpoint=sync.CRM.Accounts"
    )
    with pytest.raises(ValueError, match="connection"):
        sink.unit_prefix("acme/../other", 1001, "sync/CRM/Accounts")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDbCursorStore]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="eu-west-1")
        create_coordination_table(client, "coordination")
        yield DynamoDbCursorStore("coordination", connection="acme", client=client, clock=ManualClock())


def test_a_lease_covers_one_endpoint_and_its_deletions(store: DynamoDbCursorStore) -> None:
    with store.lease(1001, "sync/CRM/Accounts") as lease:
        lease.save(1001, "sync/CRM/Accounts", 10)
        lease.save(1001, "sync/Deleted", 7)
        assert (lease.load(1001, "sync/CRM/Accounts"), lease.load(1001, "sync/Deleted")) == (10, 7)
        with pytest.raises(SyncError):
            lease.save(1001, "sync/Financial/TransactionLines", 1)
        with pytest.raises(SyncError):
            lease.save(1002, "sync/CRM/Accounts", 1)
        with pytest.raises(SyncError, match="ahead"):
            lease.save(1001, "sync/CRM/Accounts", 9)  # never backwards
    again = store.lease(1001, "sync/CRM/Accounts")  # given back on exit: free at once
    assert (again.load(1001, "sync/CRM/Accounts"), again.load(1001, "sync/Deleted")) == (10, 7)
    assert again.generation == 2
    with pytest.raises(CursorLeaseHeld):
        store.lease(1001, "sync/CRM/Accounts")
    item = store._client.get_item(TableName="coordination", Key=store.key(1001, "sync/CRM/Accounts"))["Item"]
    assert item["pk"] == {"S": "cursor#acme"}
    assert item["sk"] == {"S": "1001#sync/CRM/Accounts"}
    assert "expires_at" not in item  # cursors are kept for good (no TTL)


class ScopedListGrant:
    """S3 as a worker under the stack's grant sees it: ``s3:ListBucket`` only with an ``s3:prefix`` condition, so a
    GetObject of a key that is not there answers 403 AccessDenied, never 404 NoSuchKey."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **request: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return self._client.get_object(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            denied = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError(denied, "GetObject") from None  # type: ignore[arg-type]


def test_a_crashed_run_is_recovered_under_a_prefix_scoped_list_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    from exact_online_sdk.sync import SyncBatch

    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        raw: Any = boto3.client("s3", region_name="eu-west-1")
        raw.create_bucket(Bucket="landing", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        sink = S3Sink("landing", client=ScopedListGrant(raw), clock=ManualClock())
        crashed = sink.begin("acme", 1001, "sync/CRM/Accounts")
        rows = [{"ID": "a", "Timestamp": 5}, {"ID": "b", "Timestamp": 6}]
        crashed.write(SyncBatch(1001, "sync/CRM/Accounts", "changes", rows, 6, "sync/CRM/Accounts", 1))
        # The worker died here: parts, no manifest. The next holder asks and writes the missing manifest.
        assert sink.manifest("acme", 1001, "sync/CRM/Accounts", crashed.run_id) is None
        manifest = sink.recover("acme", 1001, "sync/CRM/Accounts", crashed.run_id)
        assert manifest is not None
        assert manifest["status"] == "recovered"
        assert [p["rows"] for p in manifest["parts"]] == [2]
        assert sink.recover("acme", 1001, "sync/CRM/Accounts", crashed.run_id) is None  # written once
