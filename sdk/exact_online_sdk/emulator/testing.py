"""pytest fixtures for the emulator; enable with ``pytest_plugins = ["exact_online_sdk.emulator.testing"]``.

- ``emulator_config``: the :class:`EmulatorConfig` used (override this fixture to change it).
- ``emulator``: a running emulator over real loopback HTTP (an :class:`EmulatorHandle`, one per test).
- ``emulator_token``: a valid access token for the configured client.
- ``emulator_client``: a plain ``httpx.Client`` on the emulator with the bearer token and JSON Accept header.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .config import EmulatorConfig
from .server import EmulatorHandle, run_emulator

__all__ = ["emulator", "emulator_client", "emulator_config", "emulator_token"]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Default configuration; override in a conftest to change divisions, limits, clock..."""
    return EmulatorConfig()


@pytest.fixture
def emulator(emulator_config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    """A running emulator on 127.0.0.1:<free port>."""
    with run_emulator(emulator_config) as handle:
        yield handle


@pytest.fixture
def emulator_token(emulator: EmulatorHandle) -> str:
    """A valid access token for the configured client id."""
    return emulator.token()


@pytest.fixture
def emulator_client(emulator: EmulatorHandle, emulator_token: str) -> Iterator[httpx.Client]:
    """An httpx client authorised on the emulator (base URL set, ``Accept: application/json``)."""
    with httpx.Client(
        base_url=emulator.base_url,
        headers={"Authorization": f"Bearer {emulator_token}", "Accept": "application/json"},
    ) as client:
        yield client
