"""The shared rate budget across processes: worker processes on the emulator, the budget in a moto DynamoDB.

Every scenario runs on one virtual clock shared by the emulator and the workers (see ``scenario.py``): the figures
below are exact, not luck of timing, and the suite spends real time only on the HTTP and DynamoDB round trips.
"""

from __future__ import annotations

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.scale.virtual_time import SharedVirtualClock

from .scenario import PATH, coordination_table, run_workers

pytestmark = pytest.mark.slow


def test_four_processes_and_two_threads_share_one_division_for_three_minutes(
    vclock: SharedVirtualClock, aws_url: str
) -> None:
    # Three minutes: the first (every reader starting), then two steady ones; further minutes repeat the steady one
    # (the benchmark, benchmarks/bench_scale.py, runs longer).
    config = EmulatorConfig(clock=vclock, divisions=(1001,), table_rows={PATH: 600}, rows=5)
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        outcome = run_workers(
            vclock, emu, [[1001], [1001], [1001], [1001], [1001, 1001]], minutes=3, aws_url=aws_url, table=table
        )
    assert outcome.errors == []
    assert outcome.fallbacks == 0  # every grant came from the shared budget
    assert outcome.rejected() == 0
    used = outcome.per_minute(1001)
    assert len(used) == 3
    assert all(n >= 0.9 * 60 for n in used), used
    assert all(r["calls"] > 0 for r in outcome.readers)  # nobody starved


def test_twenty_divisions_across_four_processes_use_each_budget_side_by_side(
    vclock: SharedVirtualClock, aws_url: str
) -> None:
    divisions = tuple(range(1001, 1021))
    # 10 calls a minute per division (the limits come from the headers): the same coordination at a sixth of the
    # suite's time (a moto call costs ~25 ms). Every division is read by two of the four processes.
    layout = [[d for i, d in enumerate(divisions) if (i - p) % 4 in (0, 1)] for p in range(4)]
    config = EmulatorConfig(clock=vclock, divisions=divisions, table_rows={PATH: 300}, rows=5, minutely_limit=10)
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        outcome = run_workers(vclock, emu, layout, minutes=2, aws_url=aws_url, table=table)
    assert outcome.errors == []
    assert outcome.fallbacks == 0
    assert outcome.rejected() == 0
    for division in divisions:
        used = outcome.per_minute(division)
        assert used == [10, 10], (division, used)


def test_traffic_nobody_coordinated_shrinks_the_shared_budget(vclock: SharedVirtualClock, aws_url: str) -> None:
    """Another deployment of the same app spends 8 of the 20 calls at the top of every minute; the answers report
    it, and the coordinated workers use what is left without a single 429."""
    config = EmulatorConfig(clock=vclock, divisions=(1001,), table_rows={PATH: 600}, rows=5, minutely_limit=20)
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        token = emu.token()

        def other_app(until: float) -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}) as http:
                minute = vclock.now() // 60 + 1
                while minute * 60 < until:
                    vclock.sleep(minute * 60 - vclock.now())
                    for _ in range(8):
                        http.get(f"{emu.base_url}/api/v1/1001/{PATH}", params={"$select": "Name"})
                    minute += 1

        outcome = run_workers(
            vclock, emu, [[1001], [1001]], minutes=3, aws_url=aws_url, table=table, extra_actors=[other_app]
        )
    assert outcome.errors == []
    assert outcome.fallbacks == 0
    ours = [e for e in outcome.log if "Name" not in e["query"]]
    assert sum(1 for e in ours if e["status"] == 429) == 0
    assert outcome.rejected() == 0
    assert outcome.per_minute(1001)[1:] == [20, 20]  # 8 of theirs + 12 of ours
