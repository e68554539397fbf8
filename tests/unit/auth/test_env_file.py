"""Issue 15.1, library side: ``Settings.from_env()`` keeps reading ``./.env``, but a file nobody named may choose the
host only for credentials it holds itself (stored tokens are bound to their host in any case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exact_online_sdk import Settings
from exact_online_sdk.exceptions import ConfigError

EVIL = "https://exact.attacker.example"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (
        "EXACT_BASE_URL",
        "EXACT_REGION",
        "EXACT_ACCESS_TOKEN",
        "EXACT_CLIENT_SECRET",
        "EXACT_TOKEN_PATH",
        "EXACT_ENCRYPTION_KEY",
        "EXACT_TOKEN_SECRET",
        "EXACT_TOKEN_SECRET_A",
        "EXACT_TOKEN_SECRET_B",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXACT_ACCESS_TOKEN", "a-real-access-token"),
        ("EXACT_CLIENT_SECRET", "the-real-client-secret"),
        ("EXACT_TOKEN_PATH", "/home/me/.exact/token.bin"),
        ("EXACT_TOKEN_SECRET_A", "exact/token-a"),
    ],
)
def test_a_planted_host_cannot_take_credentials_from_the_environment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    (workdir / ".env").write_text(f"EXACT_BASE_URL={EVIL}\n")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        Settings.from_env()
    assert info.value.variable == "EXACT_BASE_URL"
    assert variable in str(info.value)
    assert value not in str(info.value)


def test_a_planted_region_is_refused_too(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".env").write_text("EXACT_REGION=uk\n")
    with pytest.raises(ConfigError, match="EXACT_REGION"):
        Settings.from_env(client_secret="given-in-code")


def test_a_dotenv_that_holds_its_own_credentials_still_works(workdir: Path) -> None:
    (workdir / ".env").write_text(
        "EXACT_BASE_URL=http://127.0.0.1:8123\nEXACT_CLIENT_ID=app\nEXACT_CLIENT_SECRET=file-secret\n"
    )
    settings = Settings.from_env()
    assert settings.base_url == "http://127.0.0.1:8123"
    assert settings.client_secret is not None


def test_the_host_from_the_environment_wins_and_a_named_file_is_trusted(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text(f"EXACT_BASE_URL={EVIL}\nEXACT_DIVISION=7\n")
    monkeypatch.setenv("EXACT_CLIENT_SECRET", "the-real-client-secret")
    monkeypatch.setenv("EXACT_BASE_URL", "https://start.exactonline.be")
    assert Settings.from_env().base_url == "https://start.exactonline.be"  # the file chose nothing
    monkeypatch.delenv("EXACT_BASE_URL")
    assert Settings.from_env(env_file=".env").base_url == EVIL  # named: the caller vouches for it
    assert Settings.from_env(env_file=None).base_url == "https://start.exactonline.nl"  # no file at all


def test_settings_alone_never_reads_dotenv(workdir: Path) -> None:
    (workdir / ".env").write_text(f"EXACT_BASE_URL={EVIL}\n")
    assert Settings().base_url == "https://start.exactonline.nl"
