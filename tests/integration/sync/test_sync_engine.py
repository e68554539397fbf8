"""The sync engine against the emulator over real loopback HTTP, with the real client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exact_online_sdk.client import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.clock import VirtualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.registry.deleted import DeletedEntityType
from exact_online_sdk.sync import (
    AsyncSync,
    FileCursorStore,
    MemoryCursorStore,
    Sync,
    SyncError,
    SyncProgress,
    sync_divisions,
)
from tests.support.virtual_time import AsyncClockedTransport

CHILD = Path(__file__).with_name("sync_child.py")
SELECT = ["ID", "Name", "Timestamp"]


@pytest.fixture
def emu():
    with run_emulator(EmulatorConfig(rows=2500, minutely_limit=10_000, daily_limit=100_000)) as handle:
        yield handle


def client_for(emu, division=1001):
    return ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=division)


def ids(batches, kind="changes"):
    return [row.get("ID") or row.get("EntityKey") for b in batches if b.kind == kind for row in b.rows]


def test_full_load_then_only_changes_and_deletions(emu):
    client = client_for(emu)
    store = MemoryCursorStore()
    first = []
    report = Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT).run(first.append)
    assert len(set(ids(first))) == 2500
    assert report.pages[(1001, "sync/CRM/Accounts")] == 3  # 1000 a page
    assert store.load(1001, "sync/CRM/Accounts") == max(int(r["Timestamp"]) for b in first for r in b.rows)

    some = client.get("crm/Accounts", {"$top": 3, "$select": "ID"})
    client.put(f"crm/Accounts(guid'{some[0]['ID']}')", {"Name": "Renamed by the test"})
    client.delete(f"crm/Accounts(guid'{some[1]['ID']}')")

    second = []
    Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT).run(second.append)
    changes = [r for b in second if b.kind == "changes" for r in b.rows]
    assert [(r["ID"], r["Name"]) for r in changes] == [(some[0]["ID"], "Renamed by the test")]
    [deleted] = [b for b in second if b.kind == "deletions" and b.rows]
    assert deleted.endpoint == "sync/CRM/Accounts"
    assert deleted.entity_type is DeletedEntityType.ACCOUNTS
    assert [r["EntityKey"] for r in deleted.rows] == [some[1]["ID"]]

    third = []
    Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT).run(third.append)
    assert ids(third) == []
    assert ids(third, "deletions") == []


def test_iterator_saves_a_cursor_only_once_the_next_batch_is_asked_for(emu):
    client = client_for(emu)
    store = MemoryCursorStore()
    engine = Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT)
    seen = []
    for batch in engine.batches():
        seen.append(batch)
        if len(seen) == 2:
            break  # the consumer dies while holding page 2
    assert store.load(1001, "sync/CRM/Accounts") == seen[0].cursor
    again = list(Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT).batches())
    assert ids(again)[:1000] == ids(seen[1:2])  # page 2 is delivered again: at least once, never lost
    assert len(set(ids(seen[:1]) + ids(again))) == 2500


def test_consumer_failure_keeps_the_batch_for_the_next_run(emu):
    client = client_for(emu)
    store = MemoryCursorStore()
    calls = []

    def flaky(batch):
        calls.append(batch)
        if len(calls) == 2:
            raise RuntimeError("warehouse unavailable")

    with pytest.raises(RuntimeError):
        Sync(client, ["sync/CRM/Accounts"], cursor_store=store, select=SELECT).run(flaky)
    assert store.load(1001, "sync/CRM/Accounts") == calls[0].cursor


def test_killed_processes_resume_without_losing_a_row(tmp_path):
    """Four runs are killed with SIGKILL, each at one of the dangerous points of a page (half its rows written; written
    but its cursor not saved; the new cursor file written but not yet renamed into place; cursor saved), then a
    fifth run finishes: every row arrives at least once. The child stops itself at the point and waits for the kill,
    so each point is hit on every run (no timing involved)."""
    config = EmulatorConfig(rows=0, table_rows={"crm/Accounts": 10_000}, minutely_limit=10_000, daily_limit=100_000)
    with run_emulator(config) as emu:
        cursor_file, out_file = tmp_path / "cursors.json", tmp_path / "rows.jsonl"
        token = emu.token()
        args = [sys.executable, str(CHILD), emu.base_url, token, "1001", str(cursor_file), str(out_file)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        saved: list[int | None] = []
        for stop_at in ("mid-batch:2", "before-save:1", "mid-save:2", "after-save:1"):
            child = subprocess.Popen([*args, stop_at], stdout=subprocess.PIPE, text=True, env=env)
            assert child.stdout is not None
            point, _, page = stop_at.partition(":")
            for line in child.stdout:
                if line.startswith("stopped"):
                    assert line.split() == ["stopped", point, page]
                    child.send_signal(signal.SIGKILL)
                    break
            else:
                pytest.fail(f"the child never reached {stop_at}")
            assert child.wait(timeout=30) == -signal.SIGKILL
            saved.append(FileCursorStore(cursor_file).load(1001, "sync/CRM/Accounts"))  # never corrupt
            if point == "mid-save":
                assert list(tmp_path.glob(".cursor-*")), "the kill landed between writing and renaming"
        final = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=True)
        expected = {r["ID"] for r in client_for(emu).iter_rows("crm/Accounts", {"$select": "ID"})}
    assert final.stdout.strip().endswith("done")
    # Run 1 saved page 1's cursor before dying in page 2. A kill before the save or before the rename leaves the
    # cursor where it was; a kill after the save keeps the new one.
    first, before_save, mid_save, after_save = saved
    assert first is not None
    assert before_save == first
    assert mid_save is not None
    assert mid_save > before_save  # run 3 saved its page 1, died renaming page 2's
    assert after_save is not None
    assert after_save > mid_save
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    delivered = {r["id"] for r in rows if r["kind"] == "changes"}
    assert len(expected) == 10_000
    assert delivered == expected  # nothing lost
    assert len(rows) >= len(expected)  # re-deliveries are allowed (at least once)


def test_async_engine_delivers_the_same_rows(emu):
    async def main():
        async with AsyncExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as client:
            got = []
            await AsyncSync(client, ["sync/CRM/Accounts"], cursor_store=MemoryCursorStore(), select=SELECT).run(
                got.append
            )
            return got

    batches = asyncio.run(main())
    assert len(set(ids(batches))) == 2500


def test_progress_reports_rows_pages_and_rate_limit_headroom(emu):
    seen: list[tuple[int, int, int | None]] = []

    def on_progress(p: SyncProgress) -> None:
        seen.append((p.rows, p.pages, p.rate_limits.minutely_remaining))

    Sync(
        client_for(emu), ["sync/CRM/Accounts"], cursor_store=MemoryCursorStore(), select=SELECT, on_progress=on_progress
    ).run(lambda b: None)
    assert [s[:2] for s in seen] == [(1000, 1), (2000, 2), (2500, 3), (2500, 4)]
    assert seen[-1][2] is not None
    assert seen[-1][2] < 10_000


def test_default_select_covers_the_model_and_keeps_timestamp(emu):
    batches = []
    Sync(client_for(emu), ["sync/Financial/GLAccounts"], cursor_store=MemoryCursorStore()).run(batches.append)
    row = batches[0].rows[0]
    assert {"ID", "Code", "Description", "Timestamp"} <= set(row)


def test_bad_configuration_is_refused_before_any_call(emu):
    client = client_for(emu)
    with pytest.raises(SyncError, match="not a sync endpoint"):
        Sync(client, ["crm/Accounts"], cursor_store=MemoryCursorStore())
    with pytest.raises(SyncError, match="needs a division"):
        Sync(
            ExactOnlineClient(base_url=emu.base_url, access_token="x"),
            ["sync/CRM/Accounts"],
            cursor_store=MemoryCursorStore(),
        )
    assert emu.control.calls() == 0


def test_corrupt_cursor_file_is_an_error_not_a_full_reload(tmp_path):
    path = tmp_path / "cursors.json"
    path.write_text("{not json")
    with pytest.raises(SyncError, match="corrupt"):
        FileCursorStore(path).load(1001, "sync/CRM/Accounts")


def test_fan_out_uses_every_division_budget_without_a_429():
    """Three divisions synced side by side, each paced by its own budget (4 calls a minute here), on a virtual clock
    shared with the emulator: time jumps only when every task waits for its budget and no request is in flight, so
    the calls land in the same emulator minutes on every run, however loaded the machine is."""
    clock = VirtualClock()
    config = EmulatorConfig(
        divisions=(1001, 1002, 1003), rows=0, table_rows={"crm/Accounts": 10_000}, minutely_limit=4, clock=clock
    )
    with run_emulator(config) as emu:

        async def main():
            async with AsyncExactOnlineClient(
                base_url=emu.base_url, access_token=emu.token(), clock=clock, transport=AsyncClockedTransport(clock)
            ) as client:
                got = []
                return await sync_divisions(
                    client,
                    [1001, 1002, 1003],
                    ["sync/CRM/Accounts"],
                    got.append,
                    cursor_store=MemoryCursorStore(),
                    select=SELECT,
                    include_deletions=False,
                )

        report = asyncio.run(main())
        counters = emu.control.counters()
        log = [e for e in emu.control.requests() if e["path"].endswith("sync/CRM/Accounts")]
    assert counters.get("rate_limited", 0) == 0
    assert report.total_rows == 30_000
    for division in (1001, 1002, 1003):
        assert report.pages[(division, "sync/CRM/Accounts")] == 10
    # Calls per minute of the emulator's own clock. Side by side, every division spends its whole budget in each
    # minute until its 10 pages are in: 4 + 4 + 2 calls each, all three in the same three minutes. One division
    # after the other, no minute could hold calls of two divisions, and the run would span at least 8 minutes.
    per_minute: dict[int, list[int]] = {}
    for entry in log:
        per_minute.setdefault(int(entry["time"] // 60), []).append(entry["division"])
    assert [sorted(calls) for _, calls in sorted(per_minute.items())] == [
        [1001] * 4 + [1002] * 4 + [1003] * 4,
        [1001] * 4 + [1002] * 4 + [1003] * 4,
        [1001] * 2 + [1002] * 2 + [1003] * 2,
    ]
    assert max(e["time"] for e in log) - min(e["time"] for e in log) < 3 * 60


def test_count_total_reports_the_expected_rows_from_the_first_page(emu):
    seen: list[tuple[int, int | None]] = []
    Sync(
        client_for(emu),
        ["sync/CRM/Accounts"],
        cursor_store=MemoryCursorStore(),
        select=SELECT,
        count_total=True,
        on_progress=lambda p: seen.append((p.rows, p.expected_rows)),
    ).run(lambda b: None)
    assert seen[:3] == [(1000, 2500), (2000, 2500), (2500, 2500)]
    asked = [e["query"] for e in emu.control.requests() if e["path"].endswith("sync/CRM/Accounts")]
    assert all("inlinecount=allpages" in q for q in asked)


def test_without_count_total_nothing_extra_is_asked(emu):
    seen: list[int | None] = []
    Sync(
        client_for(emu),
        ["sync/CRM/Accounts"],
        cursor_store=MemoryCursorStore(),
        select=SELECT,
        on_progress=lambda p: seen.append(p.expected_rows),
    ).run(lambda b: None)
    assert set(seen) == {None}
    assert not any("inlinecount" in e["query"] for e in emu.control.requests())
