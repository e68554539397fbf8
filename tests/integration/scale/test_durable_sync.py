"""Durable sync for workers: cursors and leases in DynamoDB, rows landed in S3 (moto server, emulator over HTTP)."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.scale import (
    CursorLeaseHeld,
    CursorLeaseLost,
    DynamoDbCursorStore,
    S3Sink,
    sync_to_s3,
)
from exact_online_sdk.scale.sink import LandingError

from .durable_child import CrashSpec, main
from .scenario import AWS_ENV, T0, coordination_table

ACCOUNTS = "sync/CRM/Accounts"
LINES = "sync/Financial/TransactionLines"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Any]:
    config = EmulatorConfig(clock=clock, rows=2300, table_rows={"financialtransaction/TransactionLines": 1200})
    with run_emulator(config) as handle:
        yield handle


@pytest.fixture
def table(aws_url: str) -> Iterator[str]:
    with coordination_table(aws_url) as name:
        yield name


@pytest.fixture
def bucket(aws_url: str) -> str:
    name = f"landing-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=aws_url, region_name=AWS_ENV["AWS_REGION"])
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]})
    return name


def tools(emu: Any, clock: ManualClock, aws_url: str, table: str, bucket: str) -> tuple[Any, Any, Any]:
    client = ExactOnlineClient(access_token=emu.token(), base_url=emu.base_url, division=1001, clock=clock)
    cursors = DynamoDbCursorStore(table, connection="acme", endpoint_url=aws_url, clock=clock)
    sink = S3Sink(bucket, endpoint_url=aws_url, clock=clock)
    return client, cursors, sink


def landed(sink: S3Sink, endpoint: str, kind: str = "changes") -> list[dict[str, Any]]:
    """Every row of every manifested run of the unit, in run order (what a downstream load takes)."""
    rows = []
    for manifest in sink.manifests("acme", 1001, endpoint):
        for part in manifest["parts"]:
            if part["kind"] == kind:
                rows += sink.read_part(part["key"])
    return rows


def test_a_unit_lands_its_rows_deletions_and_a_manifest(
    emu: Any, clock: ManualClock, aws_url: str, table: str, bucket: str
) -> None:
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)
    first = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert (first.status, first.rows, first.parts) == ("synced", 2300, 3)  # 1000 rows a page
    manifest = sink.manifest("acme", 1001, ACCOUNTS, first.run_id or "")
    assert manifest is not None
    assert manifest["status"] == "complete"
    assert manifest["rows"] == {"changes": 2300, "deletions": 0}
    prefix = f"exact-online/connection=acme/division=1001/endpoint=sync.CRM.Accounts/run={first.run_id}/"
    assert [p["key"] for p in manifest["parts"]] == [f"{prefix}changes/part-0000{i}.jsonl.gz" for i in (1, 2, 3)]
    ids = [row["ID"] for row in landed(sink, ACCOUNTS)]
    assert len(ids) == len(set(ids)) == emu.control.table("crm/Accounts").count()
    top = max(int(row["Timestamp"]) for row in landed(sink, ACCOUNTS))
    assert manifest["cursor"]["changes"] == {"from": None, "to": top}
    state = cursors.state(1001, ACCOUNTS)
    assert state is not None
    assert (state.changes, state.holder, state.open_run) == (top, None, None)  # lease given back, run closed

    # Changes and a deletion: the next run lands just those, the deletion beside the change.
    two = client.get("crm/Accounts", {"$top": 2, "$select": "ID"})
    client.put(f"crm/Accounts(guid'{two[0]['ID']}')", {"Name": "Renamed"})
    client.delete(f"crm/Accounts(guid'{two[1]['ID']}')")
    clock.advance(30)
    second = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert (second.rows, second.deletions) == (1, 1)
    manifest = sink.manifest("acme", 1001, ACCOUNTS, second.run_id or "")
    assert manifest is not None
    assert manifest["cursor"]["changes"]["from"] == top
    assert [p["kind"] for p in manifest["parts"]] == ["changes", "deletions"]
    (deleted,) = landed(sink, ACCOUNTS, "deletions")
    assert deleted["EntityKey"] == two[1]["ID"]
    assert [r["Name"] for r in landed(sink, ACCOUNTS)[-1:]] == ["Renamed"]


def test_numbers_land_with_their_exact_decimal_text(
    emu: Any, clock: ManualClock, aws_url: str, table: str, bucket: str
) -> None:
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)
    result = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=LINES, include_deletions=False)
    assert result.rows == 1200
    key = sink.manifest("acme", 1001, LINES, result.run_id or "")["parts"][0]["key"]  # type: ignore[index]
    raw = gzip.decompress(boto3.client("s3", endpoint_url=aws_url).get_object(Bucket=bucket, Key=key)["Body"].read())
    line = json.loads(raw.splitlines()[0], parse_float=Decimal)
    exact = client.get(f"financialtransaction/TransactionLines(guid'{line['ID']}')", {"$select": "AmountDC"})
    assert isinstance(exact["AmountDC"], Decimal)
    assert str(line["AmountDC"]) == str(exact["AmountDC"])  # the same decimal text, never through a float
    assert b'"AmountDC":"' not in raw  # a number, not a string


def test_two_workers_never_run_the_same_cursor_and_a_stalled_holder_is_fenced(
    emu: Any, clock: ManualClock, aws_url: str, table: str, bucket: str
) -> None:
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)
    stalled = cursors.lease(1001, ACCOUNTS, owner="worker-a")
    with pytest.raises(CursorLeaseHeld) as held:
        cursors.lease(1001, ACCOUNTS)
    assert held.value.holder == "worker-a"
    busy = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert (busy.status, busy.holder) == ("busy", "worker-a")
    # Other units run meanwhile: a lease covers one (connection, division, endpoint).
    assert sync_to_s3(client, cursors=cursors, sink=sink, division=1002, endpoint=ACCOUNTS).status == "synced"
    # worker-a stalls past its lease; worker-b takes the unit and syncs it.
    clock.advance(cursors.lease_seconds + 1)
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)  # (a fresh token: ten minutes passed)
    done = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert done.status == "synced"
    # worker-a wakes up and tries to save: fenced by the generation, its stale cursor never lands.
    with pytest.raises(CursorLeaseLost):
        stalled.save(1001, ACCOUNTS, 1)
    state = cursors.state(1001, ACCOUNTS)
    assert state is not None
    assert state.changes == done.cursor["changes"]
    assert {s.division for s in cursors.states()} == {1001, 1002}


def test_a_landing_failure_keeps_the_cursor(emu: Any, clock: ManualClock, aws_url: str, table: str) -> None:
    client, cursors, _ = tools(emu, clock, aws_url, table, "landing-no-such-bucket")
    sink = S3Sink("landing-no-such-bucket", endpoint_url=aws_url, clock=clock)
    with pytest.raises(LandingError):
        sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    state = cursors.state(1001, ACCOUNTS)
    assert state is not None
    assert (state.changes, state.holder) == (None, None)  # nothing accepted, lease given back


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_row(
    emu: Any, clock: ManualClock, aws_url: str, table: str, bucket: str
) -> None:
    """A worker dies right after S3 took its second batch, before that batch's cursor was saved. The next worker
    (once the dead one's lease ran out) writes the crashed run's manifest and carries on from the saved cursor:
    every row is in a manifested run, and only the unacknowledged batch is there twice."""
    spec = CrashSpec(
        emu.base_url, emu.token(), aws_url, table, bucket, ACCOUNTS, 1001, clock.now(), crash_after=2, env=AWS_ENV
    )
    child = multiprocessing.get_context("spawn").Process(target=main, args=(spec,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 137
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)
    crashed = cursors.state(1001, ACCOUNTS)
    assert crashed is not None
    assert crashed.holder is not None  # the dead worker's lease is still there ...
    assert crashed.open_run is not None  # ... and so is its unfinished run
    assert sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS).status == "busy"

    clock.advance(cursors.lease_seconds + 1)
    client, cursors, sink = tools(emu, clock, aws_url, table, bucket)  # (a fresh token: ten minutes passed)
    resumed = sync_to_s3(client, cursors=cursors, sink=sink, division=1001, endpoint=ACCOUNTS)
    assert resumed.recovered_run == crashed.open_run
    runs = sink.manifests("acme", 1001, ACCOUNTS)
    assert [m["status"] for m in runs] == ["recovered", "complete"]
    assert [len(m["parts"]) for m in runs] == [2, 2]  # pages 1-2 landed before the crash; pages 2-3 again after
    seen = Counter(row["ID"] for row in landed(sink, ACCOUNTS))
    assert len(seen) == emu.control.table("crm/Accounts").count()  # nothing lost
    assert sorted(Counter(seen.values()).items()) == [(1, 1300), (2, 1000)]  # only the unacknowledged page twice
    state = cursors.state(1001, ACCOUNTS)
    assert state is not None
    assert (state.holder, state.open_run) == (None, None)
