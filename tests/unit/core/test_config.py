"""Settings: EXACT_* variables, optional .env, region shortcut, errors that name the variable, no secrets shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from exact_online_sdk import Settings
from exact_online_sdk.config import REGION_HOSTS
from exact_online_sdk.exceptions import ConfigError

CANARY = "canary-secret-9f8e7d6c"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("EXACT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_reads_every_seed_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "EXACT_CLIENT_ID": "cid",
        "EXACT_CLIENT_SECRET": CANARY,
        "EXACT_REDIRECT_URI": "https://app.example/callback",
        "EXACT_BASE_URL": "https://start.exactonline.be/",
        "EXACT_DIVISION": "123456",
        "EXACT_TIMEOUT": "12.5",
        "EXACT_USER_AGENT": "my-app/1",
        "EXACT_LOG_LEVEL": "debug",
        "EXACT_LOG_JSON": "true",
        "EXACT_LOG_FILE": str(tmp_path / "x.log"),
        "EXACT_ENCRYPTION_KEY": CANARY + "-key",
        "EXACT_TOKEN_PATH": str(tmp_path / "token.json"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings.from_env()
    assert s.client_id == "cid"
    assert s.client_secret is not None
    assert s.client_secret.get_secret_value() == CANARY
    assert s.base_url == "https://start.exactonline.be"
    assert s.division == 123456
    assert s.timeout == 12.5
    assert s.user_agent == "my-app/1"
    assert s.log_level == "DEBUG"
    assert s.log_json is True
    assert s.log_file == tmp_path / "x.log"
    assert s.token_path == tmp_path / "token.json"
    assert CANARY not in repr(s)
    assert CANARY not in str(s)


@pytest.mark.parametrize(("region", "host"), sorted(REGION_HOSTS.items()))
def test_region_shortcut(monkeypatch: pytest.MonkeyPatch, region: str, host: str) -> None:
    monkeypatch.setenv("EXACT_REGION", region.upper())
    assert Settings().base_url == host


def test_defaults_to_the_dutch_host() -> None:
    s = Settings()
    assert s.base_url == "https://start.exactonline.nl"
    assert s.division is None


def test_region_and_base_url_must_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACT_REGION", "uk")
    monkeypatch.setenv("EXACT_BASE_URL", "https://start.exactonline.nl")
    with pytest.raises(ConfigError, match="EXACT_REGION"):
        Settings()


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("EXACT_DIVISION", "abc", "EXACT_DIVISION"),
        ("EXACT_DIVISION", "-3", "EXACT_DIVISION"),
        ("EXACT_TIMEOUT", "0", "EXACT_TIMEOUT"),
        ("EXACT_REGION", "mars", "EXACT_REGION"),
        ("EXACT_BASE_URL", "http://start.exactonline.nl", "EXACT_BASE_URL"),
        ("EXACT_BASE_URL", "ftp://x", "EXACT_BASE_URL"),
        ("EXACT_LOG_LEVEL", "LOUD", "EXACT_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        Settings()
    assert needle in str(info.value)
    assert info.value.variable == needle


def test_errors_never_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACT_CLIENT_SECRET", CANARY)
    monkeypatch.setenv("EXACT_DIVISION", CANARY)  # a secret pasted into the wrong variable
    with pytest.raises(ConfigError) as info:
        Settings()
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)


def test_env_file_is_optional_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings.from_env().client_id is None  # no .env: fine
    (tmp_path / ".env").write_text("EXACT_CLIENT_ID=from-file\nEXACT_DIVISION=42\n")
    assert Settings().client_id is None  # Settings() alone never reads .env
    s = Settings.from_env()
    assert (s.client_id, s.division) == ("from-file", 42)
    monkeypatch.setenv("EXACT_DIVISION", "7")
    assert Settings.from_env().division == 7
    other = tmp_path / "other.env"
    other.write_text("EXACT_CLIENT_ID=other\n")
    assert Settings.from_env(other).client_id == "other"
