"""Scale-out scenarios: the emulator on a shared virtual clock, a moto server, worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exact_online_sdk._core.ratelimit import reset_shared_budgets, set_budget_factory
from exact_online_sdk.scale.virtual_time import SharedVirtualClock
from tests.support.moto_server import moto_server_process

from .scenario import AWS_ENV, T0


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    reset_shared_budgets()
    yield
    set_budget_factory(None)
    reset_shared_budgets()


@pytest.fixture(scope="module")
def aws_url() -> Iterator[str]:
    with moto_server_process() as url:
        yield url


@pytest.fixture
def vclock() -> SharedVirtualClock:
    return SharedVirtualClock(T0, stall_timeout=60.0)
