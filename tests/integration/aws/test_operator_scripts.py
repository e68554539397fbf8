"""Operator scripts over the Secrets Manager slots (moto server) and the emulator, both over loopback HTTP.

Issue 12 defect 1: ``scripts/fetch_accounts.py`` with ``EXACT_TOKEN_SECRET_A/_B`` built a refreshing source over
the slots; past 570 s it rotated the token at Exact, could not write it (the slots deny it) and threw it away, and
the refresher's next run got "Old refresh token used". The slots are read-only unless built as the writer, so a
script now reads and never calls the token endpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.support.modules import load_file_module

ROOT = Path(__file__).resolve().parents[3]


def script(name: str) -> ModuleType:
    return load_file_module(ROOT / "scripts" / f"{name}.py", f"script_{name}")


@pytest.fixture
def slots_env(emu: Any, prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name in list(__import__("os").environ):
        if name.startswith("EXACT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXACT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("EXACT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("EXACT_REDIRECT_URI", "https://app.example/callback")
    monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
    monkeypatch.setenv("EXACT_TOKEN_SECRET_A", f"{prefix}-a")
    monkeypatch.setenv("EXACT_TOKEN_SECRET_B", f"{prefix}-b")
    monkeypatch.chdir(tmp_path)
    return emu


def store_token_aged(emu: Any, clock: ManualClock, prefix: str, age: float) -> Token:
    """The refresher's token, issued ``age`` seconds ago on Exact's (the emulator's) clock."""
    pair = emu.control.issue_token()
    issued = clock.now()
    clock.advance(age)
    token = Token(
        pair["access_token"],
        pair["refresh_token"],
        issued,
        issued + 600,
        generation=1,
        chain_id="live",
        clock_offset=issued - time.time(),  # the refresher's measured offset: these scripts run on real time
    )
    SecretsManagerTokenStorage(prefix, writable=True).save(token, expected_generation=None)
    return token


def test_fetch_accounts_over_the_slots_never_rotates_the_token(
    slots_env: Any, clock: ManualClock, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = store_token_aged(slots_env, clock, prefix, age=580)  # due: a refreshing source would refresh now
    division = slots_env.config.divisions[0]
    assert script("fetch_accounts").main(["--division", str(division), "--top", "5"]) == 0
    assert "5 account(s)" in capsys.readouterr().out
    assert slots_env.control.counters().get("token_calls", 0) == 0
    assert SecretsManagerTokenStorage(prefix).load(fresh=True) == stored  # untouched: the chain is the refresher's


def test_a_client_from_settings_reads_the_slots_read_only(slots_env: Any, clock: ManualClock, prefix: str) -> None:
    store_token_aged(slots_env, clock, prefix, age=100)
    settings = Settings.from_env()
    rows = ExactOnlineClient(settings=settings, division=slots_env.config.divisions[0]).get(
        "crm/Accounts", params={"$top": 3}
    )
    assert len(rows) == 3
    assert slots_env.control.counters().get("token_calls", 0) == 0


def test_bootstrap_script_writes_the_slots(
    slots_env: Any, prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def read(prompt: str = "") -> str:
        url = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("http"))
        return httpx.get(url, follow_redirects=False).headers["location"]

    monkeypatch.setattr("builtins.input", read)
    assert script("bootstrap_auth").main(["--mode", "manual"]) == 0
    stored = SecretsManagerTokenStorage(prefix).load(fresh=True)
    assert stored is not None
    assert (stored.generation, stored.calls_today) == (1, 1)
    assert stored.chain_id
    assert stored.user_id == slots_env.state.user_id  # who consented, for the next re-consent's check
