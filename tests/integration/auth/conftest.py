"""Fixtures: an emulator on a ManualClock over real loopback HTTP, and auth objects bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from exact_online_sdk.auth import EncryptedFileTokenStorage, ExactOnlineAuth
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from exact_online_sdk.emulator.server import EmulatorHandle

REDIRECT = "https://app.example/callback"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


@pytest.fixture
def emulator_config(clock: ManualClock) -> EmulatorConfig:
    return EmulatorConfig(clock=clock, token_daily_limit=None)


@pytest.fixture
def emu(emulator_config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    with run_emulator(emulator_config) as handle:
        yield handle


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def file_store(tmp_path, key) -> EncryptedFileTokenStorage:
    return EncryptedFileTokenStorage(tmp_path / "token.bin", key)


@pytest.fixture
def make_auth(emu, clock):
    made: list[ExactOnlineAuth] = []

    def factory(storage, **kw) -> ExactOnlineAuth:
        auth = ExactOnlineAuth(
            storage=storage,
            base_url=emu.base_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uri=REDIRECT,
            clock=clock,
            **kw,
        )
        made.append(auth)
        return auth

    yield factory
    for auth in made:
        auth.close()


def login(auth: ExactOnlineAuth, emu: EmulatorHandle):
    """Generation 1 through the real authorization-code exchange."""
    return auth.exchange_code(emu.control.authorize(redirect_uri=REDIRECT))


def token_calls(emu: EmulatorHandle) -> int:
    return int(emu.control.counters().get("token_calls", 0))
