"""Shared test set-up: fake AWS credentials (AWS is never reachable from tests) and loopback-only networking."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set before any boto3 import: tests must never find real credentials or reach a real AWS endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test harness for the session (see tests/support/prefect_harness.py); mark the tests that use it
    ``xdist_group("prefect")`` so they share one worker's server."""
    from tests.support.prefect_harness import prefect_harness

    with prefect_harness():
        yield
