"""Waiting is said, times are labelled, the live line is cleared, and `sync` refuses a wrong endpoint before any
call. The client and the emulator share a ManualClock: a wait for the next minute passes at once."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from exact_online_sdk.cli import app
from exact_online_sdk.cli._common import STATE
from exact_online_sdk.cli._pacing import AnnouncingClock, WaitNotices
from exact_online_sdk.cli.sync_cmd import SyncView
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.sync import SyncProgress

runner = CliRunner()


@pytest.fixture
def clock(monkeypatch):
    clock = ManualClock()
    monkeypatch.setattr(STATE, "clock", clock)
    return clock


def use(emu, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", emu.token())
    monkeypatch.setenv("EXACT_DIVISION", "1001")


def test_get_says_it_waits_for_the_next_minute(clock, monkeypatch, tmp_path):
    with run_emulator(EmulatorConfig(rows=130, minutely_limit=2, clock=clock)) as emu:
        use(emu, monkeypatch, tmp_path)
        started = clock.now()
        result = runner.invoke(app, ["get", "crm/Accounts", "--all", "--select", "ID", "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 130  # three pages, two calls a minute: one wait
    waits = re.findall(r"^waiting (\d+) s for the next minute \(limit 2/min\)$", result.stderr, re.MULTILINE)
    assert len(waits) == 1, result.stderr
    assert 0 < int(waits[0]) <= 61  # to the minute's reset, plus the client's safety margin
    assert clock.now() - started >= 1  # the wait happened, on the clock the emulator counts minutes with


def test_sync_says_it_waits_and_labels_its_summary(clock, monkeypatch, tmp_path):
    out = tmp_path / "accounts.jsonl"
    with run_emulator(EmulatorConfig(rows=20, minutely_limit=1, clock=clock)) as emu:
        use(emu, monkeypatch, tmp_path)
        result = runner.invoke(app, ["sync", "sync/CRM/Accounts", "--out", str(out), "--select", "ID"])
    assert result.exit_code == 0, result.output
    # changes, then sync/Deleted: the second call waits for the next minute
    assert re.search(
        r"^sync/CRM/Accounts \(division 1001\): waiting \d+ s for the next minute \(limit 1/min\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"done: sync/CRM/Accounts \(division 1001\): 20 rows, 0 deletions, 2 pages in \d+ s \(\d+ rows/s\); "
        r"API calls 1 of 1 this minute, \d+ of 5,000 today",
        summary,
    ), summary


def test_sync_refuses_a_standard_endpoint_before_any_call(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXACT_BASE_URL", "http://127.0.0.1:9")  # nothing listens: a call would fail differently
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "unused")
    result = runner.invoke(app, ["sync", "crm/Accounts"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: 'crm/Accounts' is not a sync endpoint",
        "  next: did you mean sync/CRM/Accounts? `exact-online sync --help` lists the 21 sync endpoints",
    ]


def test_sync_refuses_a_corrupt_cursor_file_before_any_call(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXACT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "unused")
    (tmp_path / "cursors.json").write_text("{not json")
    result = runner.invoke(app, ["sync", "sync/CRM/Accounts", "--cursors", "cursors.json"])
    assert result.exit_code == 2
    assert "cursor file cursors.json is corrupt" in result.stderr
    assert "--cursors file can be moved away" in result.stderr


def live_view(title: str = "sync/CRM/Accounts (division 1001)"):
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    ticks = iter([0.0, 34.0, 34.0, 34.0, 60.0, 60.0])
    return SyncView(title, console, live=True, monotonic=lambda: next(ticks)), buffer


def test_the_live_line_labels_its_times_says_its_waits_and_is_cleared():
    view, buffer = live_view()
    limits = SimpleNamespace(minutely_limit=60, minutely_remaining=0, daily_limit=5000, daily_remaining=4000)
    progress = SyncProgress(division=1001, rows=1200, pages=2, rate_limits=limits, expected_rows=2400)
    with view:
        view.progress(progress)
        line = view.line()
        assert line == (
            "sync/CRM/Accounts (division 1001): 1,200/2,400 rows, 0 deletions, 2 pages; 35 rows/s; "
            "API calls 60 of 60 this minute, 1,000 of 5,000 today; elapsed 34 s, about 34 s left"
        )
        view.waiting("waiting 25 s for the next minute (limit 60/min)")
        assert view.line() == (
            "sync/CRM/Accounts (division 1001): 1,200 rows so far, waiting 25 s for the next minute (limit 60/min)"
        )
        view.waiting(None)
        assert "elapsed" in view.line()
    assert view.summary().startswith("done: sync/CRM/Accounts (division 1001): 1,200/2,400 rows")
    assert buffer.getvalue().endswith("\x1b[1A\x1b[2K")  # the last thing done: up one line, erase it


def test_the_announcing_clock_counts_down_and_reads_the_reason_once():
    clock = ManualClock()
    said: list[str | None] = []
    limits = SimpleNamespace(minutely_limit=60, minutely_remaining=0, in_flight=0)
    announcing = AnnouncingClock(clock, WaitNotices(said.append, lambda: limits))
    announcing.sleep(2.5)
    assert said == [
        "waiting 3 s for the next minute (limit 60/min)",
        "waiting 2 s for the next minute (limit 60/min)",
        "waiting 1 s for the next minute (limit 60/min)",
        None,
    ]
    said.clear()
    announcing.sleep(0.2)  # short pauses are not announced
    assert said == []
    limits.minutely_remaining = 10  # budget left: the wait is a retry's back-off
    announcing.sleep(1.0)
    assert said == ["waiting 1 s before trying again", None]
