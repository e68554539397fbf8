"""Every read/sync/webhooks command of `exact-online` against the emulator over real HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from exact_online_sdk.cli import app
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, run_emulator

runner = CliRunner()


@pytest.fixture(scope="module")
def emu():
    with run_emulator(EmulatorConfig(rows=130, minutely_limit=10_000, daily_limit=100_000)) as handle:
        yield handle


@pytest.fixture
def env(emu, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    values = {"EXACT_BASE_URL": emu.base_url, "EXACT_ACCESS_TOKEN": emu.token(), "EXACT_DIVISION": "1001"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_whoami_and_divisions(env):
    me = runner.invoke(app, ["whoami", "--json"])
    assert me.exit_code == 0, me.output
    [row] = lines(me.stdout)
    assert row["CurrentDivision"] == 1001
    divisions = runner.invoke(app, ["divisions", "--json"])
    assert divisions.exit_code == 0, divisions.output
    assert sorted(r["Code"] for r in lines(divisions.stdout)) == [1001, 1002]


def test_get_one_page_says_there_is_more_and_all_reads_everything(env):
    page = runner.invoke(app, ["get", "crm/Accounts", "--select", "ID,Name", "--json"])
    assert page.exit_code == 0, page.output
    assert len(lines(page.stdout)) == 60
    assert "Exact has more" in page.stderr
    everything = runner.invoke(app, ["get", "crm/Accounts", "--select", "ID,Name", "--all", "--json"])
    assert len(lines(everything.stdout)) == 130
    top = runner.invoke(app, ["get", "crm/Accounts", "--select", "ID,Name", "--top", "3", "--all", "--json"])
    assert [r["Name"] for r in lines(top.stdout)] == ["Account 1", "Account 2", "Account 3"]
    filtered = runner.invoke(app, ["get", "crm/Accounts", "--filter", "Name eq 'Account 7'", "--select", "Name"])
    assert [r["Name"] for r in lines(filtered.stdout)] == ["Account 7"]


def test_get_money_keeps_its_exact_digits(env):
    result = runner.invoke(app, ["get", "salesinvoice/SalesInvoices", "--select", "AmountDC", "--top", "1", "--json"])
    [row] = lines(result.stdout)
    assert isinstance(row["AmountDC"], str)
    assert "e" not in row["AmountDC"].lower()


def test_sync_writes_jsonl_and_resumes_from_its_cursor(env, emu, tmp_path):
    out, cursors = tmp_path / "accounts.jsonl", tmp_path / "cursors.json"
    args = ["sync", "sync/CRM/Accounts", "--out", str(out), "--cursors", str(cursors), "--select", "ID,Name"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    rows = lines(out.read_text())
    assert len(rows) == 130
    assert {r["kind"] for r in rows} == {"changes"}
    assert "130 rows" in first.stderr
    client = ExactOnlineClient(base_url=emu.base_url, access_token=env["EXACT_ACCESS_TOKEN"], division=1001)
    victim = rows[5]["row"]["ID"]
    client.delete(f"crm/Accounts(guid'{victim}')")
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    added = lines(out.read_text())[130:]
    assert [(r["kind"], r["row"]["EntityKey"]) for r in added] == [("deletions", victim)]


def test_webhooks_sync_creates_deletes_and_lists(env):
    url = "https://hooks.example.com/exact"
    created = runner.invoke(app, ["webhooks", "sync", "--callback", url, "--topic", "Accounts", "--topic", "Items"])
    assert created.exit_code == 0, created.output
    assert "0 kept, 2 created, 0 deleted" in created.stdout
    listed = lines(runner.invoke(app, ["webhooks", "list", "--json"]).stdout)
    assert sorted(r["Topic"] for r in listed) == ["Accounts", "Items"]
    plan = runner.invoke(app, ["webhooks", "sync", "--callback", url, "--topic", "Accounts", "--dry-run"])
    assert "would delete" in plan.stdout
    assert len(lines(runner.invoke(app, ["webhooks", "list", "--json"]).stdout)) == 2  # a dry run changes nothing
    pruned = runner.invoke(app, ["webhooks", "sync", "--callback", url, "--topic", "Accounts"])
    assert "1 kept, 0 created, 1 deleted" in pruned.stdout
    assert [r["Topic"] for r in lines(runner.invoke(app, ["webhooks", "list", "--json"]).stdout)] == ["Accounts"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exact_online_sdk.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def test_expected_failures_are_one_line_with_a_next_step_and_an_exit_code(env):
    missing = run_cli("get", "crm/Nope", env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr
    bad_token = run_cli("whoami", env={**env, "EXACT_ACCESS_TOKEN": "not-a-token"})
    assert bad_token.returncode == 3
    assert "next: EXACT_ACCESS_TOKEN was refused" in bad_token.stderr  # the token came from there, not a login
    assert "not-a-token" not in bad_token.stderr
    no_token = run_cli("whoami", env={"EXACT_BASE_URL": env["EXACT_BASE_URL"], "EXACT_ACCESS_TOKEN": ""})
    assert no_token.returncode == 2
    assert "EXACT_TOKEN_PATH" in no_token.stderr
    verbose = run_cli("--verbose", "get", "crm/Nope", env=env)
    assert "Traceback" in verbose.stderr


def test_sync_with_count_shows_the_total(env, tmp_path):
    out, cursors = tmp_path / "accounts.jsonl", tmp_path / "cursors.json"
    args = ["sync", "sync/CRM/Accounts", "--out", str(out), "--cursors", str(cursors), "--select", "ID", "--count"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    done = re.search(r"done: sync/CRM/Accounts \(division 1001\): ([\d,]+)/([\d,]+) rows", result.stderr)
    assert done is not None, result.stderr
    assert done.group(1) == done.group(2)  # every row Exact announced was delivered


def test_demo_command_points_to_make_demo_in_a_checkout():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "not part of the installed package" in result.stderr
    assert "make demo" in result.stderr


def test_an_unreadable_token_file_is_one_line_with_exit_code_3(emu, monkeypatch, tmp_path):
    from exact_online_sdk.auth.file import EncryptedFileTokenStorage, generate_key
    from exact_online_sdk.auth.token import Token

    path = tmp_path / "token.bin"
    EncryptedFileTokenStorage(path, generate_key()).save(
        Token(access_token="at-canary-123", refresh_token="rt-canary-456", issued_at=0, expires_at=600),
        expected_generation=None,
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXACT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(path))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", generate_key())  # not the key the file was written with
    result = runner.invoke(app, ["whoami"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert "canary" not in result.stderr
