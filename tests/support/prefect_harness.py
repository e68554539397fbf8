"""Prefect's local test harness (a temporary API server in a subprocess, on its own SQLite file), started once per
test session: its start-up is most of what a flow test costs, and every flow test can share one server.

The tests that use it are in the ``prefect`` xdist group, so one worker starts one server for all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# The harness's server needs none of its background services to run a flow. Each of them writes to the harness's
# one SQLite file on its own schedule, and SQLite admits one writer at a time: on a loaded machine the telemetry
# heartbeat then logged "database is locked" (harmless for the flow, but noise that hides real errors).
QUIET_PREFECT_SERVER = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # the telemetry heartbeat (and no phoning home from tests)
    **{
        f"PREFECT_SERVER_SERVICES_{service}_ENABLED": "false"
        for service in (
            "CANCELLATION_CLEANUP",
            "EVENT_PERSISTER",
            "FOREMAN",
            "LATE_RUNS",
            "PAUSE_EXPIRATIONS",
            "SCHEDULER",
            "TRIGGERS",
        )
    },
}

# The server takes a minute or more to start on a loaded machine; the harness's own timeout is the only bound.
STARTUP_TIMEOUT = 240


@contextmanager
def prefect_harness() -> Iterator[None]:
    """Run Prefect flows against a fresh local server with its background services off, until the block ends."""
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as env:
        for key, value in QUIET_PREFECT_SERVER.items():
            env.setenv(key, value)
        with prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT):
            yield
