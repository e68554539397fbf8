"""Many connections on one stack: 100 Exact connections, one refresher, 24 simulated hours (issue 17's target).

The multi-connection scenario of ``tests/e2e/test_connections_e2e.py`` (the suite runs 10 connections for 2 hours)
at full size: the real refresher handler, the emulator (one app per connection, Exact's token quota and error
block on) and a moto server over loopback HTTP, every actor on the discrete-event clock (no wall-clock pacing: a
simulated day takes minutes). The same checks as the suite (every chain refreshed inside its window, 0 breaks,
0 worker 401s, the faulty connection's failures reported with its name) must hold, then the figures are reported:

- punctuality: the mean interval between a chain's generations over the 570 s Exact imposes (the limit-imposed
  optimum; 1.0 is unreachable, the refresher aims at 573 s plus the scheduling minute's phase);
- invocations, Secrets Manager and DynamoDB calls, Lambda time (GB-s at 256 MB);
- cost per connection per month (eu-west-1 list prices, docs/aws.md).

``--quick``: 20 connections for 3 hours; ``BENCH_CONNECTIONS``/``BENCH_HOURS`` set another size. The full day takes
about an hour of real time on 2 shared CPUs (~150 s per simulated hour at 100 connections, nearly all of it the
HTTP round trips to the moto server); a progress line per simulated hour goes to stderr.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import figure, main_for

BENCH = "connections"


def run(quick: bool) -> list[dict[str, Any]]:
    import logging
    import os

    # moto answers any credentials; nothing here may reach a real AWS account.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)

    import pytest

    import tests.e2e.test_connections_e2e as e2e
    import tests.e2e.test_refresher_e2e as harness
    from tests.support.moto_server import moto_server

    _cache_moto_module_listing()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("exact_online_sdk").setLevel(logging.CRITICAL)
    connections, hours = (20, 3.0) if quick else (100, 24.0)
    # BENCH_CONNECTIONS / BENCH_HOURS: another size (the full day takes hours on a small machine).
    connections = int(os.environ.get("BENCH_CONNECTIONS", connections))
    hours = float(os.environ.get("BENCH_HOURS", hours))
    minutes = int(hours * 60)
    harness.REAL_TIMEOUT = 4 * 3600.0  # the whole day is one simulation run (SimClock.run's stall guard)
    names = [f"conn-{i:03d}" for i in range(connections)]
    started = time.perf_counter()

    def progress(hour: int) -> None:
        # stderr: run.py reads stdout; a day-long run says how far it got (and how fast) while it runs.
        print(
            f"bench_connections: simulated hour {hour} of {hours:g} after {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    # The handler's per-connection metrics print EMF lines; run.py reads stdout lines starting with "{" as rows.
    with (
        moto_server() as aws,
        contextlib.redirect_stdout(io.StringIO()),
        pytest.MonkeyPatch.context() as monkeypatch,
        e2e.many_emulator(names) as emu,
    ):
        world = e2e.many_connections_scenario(emu, aws.url, monkeypatch, names, minutes, seed=17, on_hour=progress)
        e2e.check_many_connections(world, minutes)
        figures = world.figures(minutes)
        cost = e2e.monthly_cost(figures, connections=connections)
    real = time.perf_counter() - started
    case = f"{connections} connections x {hours:g} h"
    note = f"simulated in {real:.0f} s real time; checks passed (0 breaks, 0 worker 401s)"
    rows = [
        figure(
            BENCH,
            case,
            "refresher",
            "punctuality (mean interval / 570 s)",
            figures["punctuality"],
            higher_is_better=False,
            note=note,
        ),
        figure(
            BENCH, case, "refresher", "worst interval / 570 s", figures["worst_interval_ratio"], higher_is_better=False
        ),
        figure(BENCH, case, "refresher", "invocations", figures["invocations"], higher_is_better=False),
        figure(BENCH, case, "refresher", "refreshes", figures["refreshes"]),
        figure(
            BENCH, case, "refresher", "Secrets Manager calls", figures["secretsmanager_calls"], higher_is_better=False
        ),
        figure(BENCH, case, "refresher", "DynamoDB calls", figures["dynamodb_calls"], higher_is_better=False),
        figure(
            BENCH,
            case,
            "refresher",
            "Secrets Manager calls per connection per month",
            figures["sm_calls_per_connection_month"],
            higher_is_better=False,
        ),
        figure(
            BENCH, case, "refresher", "mean invocation (s)", figures["invocation_seconds_mean"], higher_is_better=False
        ),
        figure(
            BENCH,
            case,
            "refresher",
            "cost per connection per month ($)",
            cost["total_per_connection"],
            higher_is_better=False,
            note=", ".join(f"{k} {v}" for k, v in cost.items()),
        ),
    ]
    assert not math.isnan(figures["punctuality"])
    return rows


def _cache_moto_module_listing() -> None:
    """Moto's server matches every request's host against a fresh listing of its own package directory (an
    ``os.listdir`` and ~200 ``isdir`` calls, twice per request: ~5% of a day's CPU). The listing cannot change while
    the server runs; reading it once changes nothing moto answers."""
    import moto.backends

    listing = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(listing)


if __name__ == "__main__":
    main_for(run)
