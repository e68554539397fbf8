"""The CLI as people use it after `exact-online auth login`: the encrypted token file, tables, exit codes."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from exact_online_sdk.auth.file import EncryptedFileTokenStorage
from exact_online_sdk.auth.token import Token
from exact_online_sdk.cli import app
from exact_online_sdk.cli._common import print_rows
from exact_online_sdk.emulator import EmulatorConfig, run_emulator

runner = CliRunner()


@pytest.fixture
def emu():
    with run_emulator(EmulatorConfig(rows=10, minutely_limit=1000)) as handle:
        yield handle


@pytest.fixture
def token_file(emu, tmp_path, monkeypatch):
    """A token as `auth login` leaves it: encrypted on disk, generation 1; no division configured."""
    pair = emu.control.issue_token()
    key = Fernet.generate_key().decode()
    path = tmp_path / "token.enc"
    now = time.time()
    token = Token(pair["access_token"], pair["refresh_token"], issued_at=now, expires_at=now + 600, generation=1)
    EncryptedFileTokenStorage(path, key).save(token, expected_generation=None)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "EXACT_BASE_URL": emu.base_url,
        "EXACT_TOKEN_PATH": str(path),
        "EXACT_ENCRYPTION_KEY": key,
        "EXACT_CLIENT_ID": emu.config.client_id,
        "EXACT_CLIENT_SECRET": emu.config.client_secret,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EXACT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("EXACT_DIVISION", raising=False)
    return pair


def test_commands_use_the_encrypted_token_and_find_the_current_division(token_file, emu):
    result = runner.invoke(app, ["divisions", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(line.count('"Code"') for line in result.stdout.splitlines()) == [1, 1]
    # The division came from current/Me (EXACT_DIVISION is unset), with the token from the file.
    paths = [e["path"] for e in emu.control.requests()]
    assert paths[:2] == ["/api/v1/current/Me", "/api/v1/1001/system/Divisions"]
    assert emu.control.counters().get("token_calls", 0) == 0  # a fresh token: no refresh


def test_people_get_a_table(capsys):
    shown = print_rows([{"Code": 1001, "Description": "Demo BV", "__metadata": {"uri": "x"}}], as_json=False)
    out = capsys.readouterr().out
    assert shown == 1
    assert "Code" in out
    assert "Demo BV" in out
    assert "__metadata" not in out


def test_server_failures_exit_5_and_spent_limits_exit_4(token_file, emu):
    emu.control.inject("status", status=503, times=20, path="/api/v1/1001/crm/Accounts")
    failed = runner.invoke(app, ["get", "crm/Accounts", "--division", "1001"])
    assert failed.exit_code == 5
    assert "try again later" in failed.stderr
    emu.control.clear_faults()


def test_a_spent_daily_limit_exits_4_with_the_reset_time(tmp_path, monkeypatch):
    with run_emulator(EmulatorConfig(rows=10, daily_limit=1)) as emu:
        monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
        monkeypatch.setenv("EXACT_ACCESS_TOKEN", emu.token())
        monkeypatch.setenv("EXACT_DIVISION", "1001")
        assert runner.invoke(app, ["get", "crm/Accounts", "--top", "1"]).exit_code == 0
        spent = runner.invoke(app, ["get", "crm/Accounts", "--top", "1"])
    assert spent.exit_code == 4
    assert "wait for the limit to reset" in spent.stderr
