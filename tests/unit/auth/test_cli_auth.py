"""`exact-online auth status|new-key|login` through typer's runner (no network)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from exact_online_sdk.auth import EncryptedFileTokenStorage, Token
from exact_online_sdk.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("EXACT_TOKEN_SECRET", "EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B", "EXACT_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(tmp_path / "t.bin"))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", key)
    return EncryptedFileTokenStorage(tmp_path / "t.bin", key)


def test_status_shows_generation_expiry_and_the_token_call_budget_never_the_token(env, monkeypatch):
    now = 1_767_225_600.0 + 3600  # 2026-01-01T01:00Z
    monkeypatch.setattr("exact_online_sdk.cli.auth.time.time", lambda: now)
    env.save(
        Token(
            "ACCESS-xyz-123456",
            "REFRESH-xyz-123456",
            issued_at=now - 100,
            expires_at=now + 500,
            generation=7,
            calls_day="2026-01-01",
            calls_today=9,
        ),
        expected_generation=None,
    )
    result = runner.invoke(app, ["auth", "status"])
    assert result.exit_code == 0, result.output
    assert "generation: 7" in result.output
    assert "(100 s ago)" in result.output
    assert "token calls: 9 of Exact's ~200 today (2026-01-01 UTC" in result.output
    assert "ACCESS-xyz" not in result.output
    assert "REFRESH-xyz" not in result.output


def test_status_without_token_or_store(env, monkeypatch):
    result = runner.invoke(app, ["auth", "status"])
    assert result.exit_code == 3
    assert "auth login" in result.output
    monkeypatch.delenv("EXACT_TOKEN_PATH")
    result = runner.invoke(app, ["auth", "status"])
    assert result.exit_code == 2
    assert "EXACT_TOKEN_PATH" in result.output


def test_status_with_wrong_key_is_a_clear_error(env, monkeypatch):
    env.save(Token("a" * 10, "r" * 10, issued_at=1.0, expires_at=601.0), expected_generation=None)
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    result = runner.invoke(app, ["auth", "status"])
    assert result.exit_code != 0
    assert "EXACT_ENCRYPTION_KEY" in result.output


def test_new_key_is_a_fernet_key():
    result = runner.invoke(app, ["auth", "new-key"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())


def test_login_names_missing_configuration(env, monkeypatch):
    monkeypatch.delenv("EXACT_CLIENT_ID", raising=False)
    monkeypatch.setenv("EXACT_CLIENT_SECRET", "x" * 12)
    monkeypatch.setenv("EXACT_REDIRECT_URI", "https://app.example/cb")
    result = runner.invoke(app, ["auth", "login", "--mode", "manual"])
    assert result.exit_code == 2
    assert "EXACT_CLIENT_ID" in result.output
