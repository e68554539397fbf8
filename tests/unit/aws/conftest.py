"""moto in-process fixtures: the two token slots and the rescue secret, with fault injection on the client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.clock import ManualClock

from .fakes import AwsFaults

SLOTS = ("exact/token-a", "exact/token-b")
RESCUE = "exact/rescue"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def faults() -> AwsFaults:
    return AwsFaults()


@pytest.fixture
def sm(faults: AwsFaults) -> Iterator[Any]:
    with mock_aws():
        client = faults.attach(make_secretsmanager_client())
        for name in (*SLOTS, RESCUE):
            client.create_secret(Name=name, Description="created by the stack, without a value")
        faults.calls.clear()
        faults.params.clear()
        yield client
