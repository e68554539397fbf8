"""Emulator tests talk to it with plain httpx over real loopback HTTP (and some in-process ASGI tests).

They check the emulator against Exact's documented behaviour (FACTS.md, hand-written wire shapes), never against
the SDK built from the same registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle
from exact_online_sdk.emulator.testing import emulator, emulator_client, emulator_config, emulator_token

__all__ = ["emulator", "emulator_client", "emulator_config", "emulator_token"]

CONTROL = {"X-Emulator-Control": "1"}


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


def d(response: httpx.Response) -> Any:
    """The ``d`` of a JSON answer, after checking it succeeded."""
    assert response.status_code in (200, 201), response.text
    return response.json()["d"]


def error(response: httpx.Response, status: int = 400) -> str:
    """Exact's error text, after checking the status and the ``{"error":{"code":"","message":{..}}}`` shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == ""
    assert body["error"]["message"]["lang"] == ""
    return str(body["error"]["message"]["value"])
