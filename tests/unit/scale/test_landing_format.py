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
