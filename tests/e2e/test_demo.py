"""`make demo` in small: the real demo code path (top-level ``demo`` package), fewer rounds, on its simulated clock.

The demo moves one ManualClock itself (the refresher at every minute, the worker 30 s into a round's first minute),
so a run is the same every time: no real-time-scaled clock, no sleeps.
"""

from __future__ import annotations

import re

import pytest

from demo import DemoOptions, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-demo")]

SMALL = DemoOptions(rounds=4, round_minutes=7, accounts=800, invoices=300, transaction_lines=1500)


def test_demo_rotates_tokens_syncs_changes_and_deletions_without_a_429():
    lines: list[str] = []
    summary = run_demo(SMALL, say=lines.append)
    assert summary.ok, summary.problems
    assert summary.generations[0] == 1
    assert summary.generations[1] >= 3  # the refresher rotated the token at least twice
    # every rotation is one refresh at Exact, and the emulator counted each (so its counter names are the real ones)
    assert summary.refreshes_at_exact == summary.generations[1] - summary.generations[0]
    assert summary.rejected_refreshes == 0
    assert summary.too_early_refreshes == 0
    assert summary.throttled_429 == 0
    assert summary.worker_unauthorized == 0
    assert summary.rows["accounts"] == 800 + 2 * 3  # two new accounts per round of activity (3 rounds)
    assert summary.deletions["accounts"] == 2 * 3
    assert summary.deletions["sales invoices"] == 3
    assert any(line.startswith("round 4") for line in lines)

    rounds = [line for line in lines if line.startswith("round ")]
    assert len(rounds) == 4
    assert all("| activity: " in line for line in rounds)  # the last round has its activity column too
    assert rounds[-1].endswith("| activity: none (the last round only reads)")
    last_generation = re.search(r"token generation (\d+)", rounds[-1])
    assert last_generation is not None
    assert int(last_generation.group(1)) == summary.generations[1]  # the summary describes the last round
    assert summary.simulated_minutes == pytest.approx(3 * 7 + 0.5)


def test_the_demo_tells_the_same_story_every_time():
    first: list[str] = []
    second: list[str] = []
    run_demo(SMALL, say=first.append)
    run_demo(SMALL, say=second.append)

    def story(lines: list[str]) -> list[str]:
        return [line for line in lines if line.startswith(("round ", "bootstrap"))]

    assert story(first) == story(second)
    assert len(story(first)) == 5
