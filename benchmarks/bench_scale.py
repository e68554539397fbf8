"""Scale-out: several worker processes on one app's rate limits, the budget shared through DynamoDB (moto server).

Two scenarios, each on one virtual clock shared by the emulator and every worker process (the scenarios of
``tests/integration/scale/scenario.py``, with larger figures): time moves only when every reader waits for its budget,
so the figures are what the pacing does, not luck of timing on a loaded machine.

- N processes reading one division at full speed (N = 1, 2, 4 coordinated through the shared DynamoDB budget; 4
  uncoordinated, each with its own in-process budget, as the contrast): 429s, share of the minutes' budget used,
  Exact calls per row, DynamoDB requests per Exact call (what the coordination costs).
- 20 divisions x 4 worker processes (every division read by two processes): the same figures summed over divisions.

Each figure's ``vs`` is the limit-imposed optimum: every minute's budget used (``limit`` calls per division per
whole minute), full pages (1 call per 60 rows), 0 429s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))  # the scenario lives with the tests that prove it

from harness import figure, main_for  # noqa: E402

from tests.integration.scale.scenario import (  # noqa: E402
    AWS_ENV,
    PATH,
    T0,
    Outcome,
    coordination_table,
    run_workers,
)
from tests.support.moto_server import moto_server_process  # noqa: E402

BENCH = "scale-out"
OPTIMUM = "limit-imposed optimum"
PAGE = 60  # rows per page of crm/Accounts: the fewest calls a row can cost


def scenario(
    aws_url: str, layout: list[list[int]], *, minutes: int, limit: int, coordinated: bool
) -> tuple[Outcome, tuple[int, ...]]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator
    from exact_online_sdk.scale.virtual_time import SharedVirtualClock

    divisions = tuple(sorted({d for process in layout for d in process}))
    # The stall timeout only detects a deadlock: on a loaded machine spawning 4 workers (boto3, httpx) alone can take
    # minutes of real time, during which virtual time rightly stands still.
    clock = SharedVirtualClock(T0, stall_timeout=900.0)
    config = EmulatorConfig(clock=clock, divisions=divisions, table_rows={PATH: 600}, rows=5, minutely_limit=limit)
    with run_emulator(config) as emu, coordination_table(aws_url) as table:
        outcome = run_workers(
            clock,
            emu,
            layout,
            minutes=minutes,
            aws_url=aws_url if coordinated else None,
            table=table if coordinated else None,
            timeout=600.0,
        )
    if outcome.errors:
        raise RuntimeError(outcome.errors[0])
    return outcome, divisions


def figures(
    case: str, contender: str, outcome: Outcome, divisions: tuple[int, ...], limit: int
) -> list[dict[str, Any]]:
    minutes = len(outcome.per_minute(divisions[0]))
    used = sum(sum(outcome.per_minute(d)) for d in divisions)
    budget = limit * minutes * len(divisions)
    answered = sum(1 for e in outcome.log if e["status"] != 429)
    rows = sum(r["rows"] for r in outcome.readers)
    calls = sum(r["calls"] for r in outcome.readers)
    dynamodb = sum(outcome.dynamodb.values())
    lowest = min(min(outcome.per_minute(d)) for d in divisions)
    note = f"{minutes} whole minutes x {len(divisions)} division(s) x {limit}/min; lowest minute {lowest}/{limit}"
    if outcome.fallbacks:
        note += f"; DynamoDB fell back {outcome.fallbacks}x"
    out = [
        figure(BENCH, case, OPTIMUM, "calls answered in whole minutes", budget, note="every minute's budget"),
        figure(BENCH, case, contender, "calls answered in whole minutes", used, ratio_to=OPTIMUM, note=note),
        figure(BENCH, case, OPTIMUM, "429s", 0, higher_is_better=False),
        figure(BENCH, case, contender, "429s", outcome.rejected(), higher_is_better=False, note="optimum: 0"),
        figure(BENCH, case, OPTIMUM, "calls per 1000 rows", 1000 / PAGE, higher_is_better=False),
        figure(
            BENCH,
            case,
            contender,
            "calls per 1000 rows",
            1000 * calls / rows if rows else None,
            higher_is_better=False,
            ratio_to=OPTIMUM,
            note=f"{calls} calls, {rows} rows",
        ),
    ]
    if outcome.dynamodb:
        by_op = ", ".join(f"{op} {n}" for op, n in sorted(outcome.dynamodb.items()))
        out.append(
            figure(
                BENCH,
                case,
                contender,
                "DynamoDB requests per Exact call",
                dynamodb / answered if answered else None,
                higher_is_better=False,
                note=f"{by_op} for {answered} answered calls (on-demand: ~1 write unit each)",
            )
        )
    return out


SHARED = "exact_online_sdk (shared DynamoDB budget)"
LOCAL = "exact_online_sdk (in-process budget only)"


def run(quick: bool) -> list[dict[str, Any]]:
    os.environ.update(AWS_ENV)
    minutes = 2 if quick else 3
    limit = 10 if quick else 60
    all_divisions = list(range(1001, 1021))
    cases: list[tuple[str, str, list[list[int]], int, int, bool]] = [
        (f"{n} process(es) x 1 reader on 1 division, {minutes} min", SHARED, [[1001]] * n, minutes, 60, True)
        for n in ((1, 2) if quick else (1, 2, 4))
    ]
    n = 2 if quick else 4
    cases.append(
        (
            f"{n} process(es) x 1 reader on 1 division, {minutes} min, uncoordinated",
            LOCAL,
            [[1001]] * n,
            minutes,
            60,
            False,
        )
    )
    spread = [[d for i, d in enumerate(all_divisions) if (i - p) % 4 in (0, 1)] for p in range(4)]
    cases.append(
        (f"20 divisions x 4 processes (2 readers per division), 2 min, {limit}/min", SHARED, spread, 2, limit, True)
    )
    out: list[dict[str, Any]] = []
    with moto_server_process() as aws_url:
        for case, contender, layout, length, per_minute, coordinated in cases:
            print(f"   {case}", file=sys.stderr, flush=True)
            try:
                outcome, divisions = scenario(
                    aws_url, layout, minutes=length, limit=per_minute, coordinated=coordinated
                )
            except Exception as exc:  # one scenario's failure is reported; the others still measure
                out.append(
                    figure(BENCH, case, contender, "calls answered in whole minutes", None, error=repr(exc)[:300])
                )
                continue
            out += figures(case, contender, outcome, divisions, per_minute)
    return out


if __name__ == "__main__":
    main_for(run)
