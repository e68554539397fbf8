"""Emulator tests talk to it with plain httpx over real loopback HTTP (and some in-process ASGI tests)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle
from exact_online_sdk.emulator.testing import emulator, emulator_client, emulator_config, emulator_token

__all__ = ["emulator", "emulator_client", "emulator_config", "emulator_token"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_emulator(clock: ManualClock) -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(clock=clock, rows=150)) as handle:
        yield handle


def api_client(handle: EmulatorHandle, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=handle.base_url,
        headers={"Authorization": f"Bearer {token or handle.token()}", "Accept": "application/json"},
    )
