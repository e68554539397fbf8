"""A moto server on 127.0.0.1:<free port> (real HTTP, boto3 pointed at it) and an emulator on a ManualClock."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.clock import ManualClock


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 Secrets Manager client of the test at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    return moto_url


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
