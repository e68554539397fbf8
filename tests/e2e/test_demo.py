"""`make demo` in small: the real demo code path, fewer rounds, a faster clock."""

from __future__ import annotations

import pytest

from exact_online_sdk.demo import DemoOptions, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-demo")]


def test_demo_rotates_tokens_syncs_changes_and_deletions_without_a_429():
    lines: list[str] = []
    summary = run_demo(
        DemoOptions(rounds=4, scale=120, accounts=800, invoices=300, transaction_lines=1500), say=lines.append
    )
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
