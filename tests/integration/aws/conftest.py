"""A moto server on 127.0.0.1:<free port> (real HTTP, boto3 pointed at it) and an emulator on a ManualClock.

The server is the shared test helper (tests/support/moto_server.py): one request at a time inside moto, and clients
that give up in seconds if it stops answering.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.clock import ManualClock
from tests.support.moto_server import MotoServer, moto_server


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """The module's moto server (its ``client(service)`` makes boto3 clients with the test timeouts)."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def moto_url(moto: MotoServer) -> str:
    return moto.url


@pytest.fixture
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 Secrets Manager client of the test at the moto server."""
    for key, value in moto.env("secretsmanager").items():
        monkeypatch.setenv(key, value)
    return moto.url


@pytest.fixture
def prefix(aws_env: str) -> str:
    """A fresh secret-name prefix with its two (empty) slots ``{prefix}-a``/``-b`` created, as the stack does."""
    name = f"exact/{uuid.uuid4().hex[:8]}/token"
    sm = make_secretsmanager_client()
    for suffix in ("a", "b"):
        sm.create_secret(Name=f"{name}-{suffix}")
    return name


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Any]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(clock=clock, token_daily_limit=None, rows=30)) as handle:
        yield handle
