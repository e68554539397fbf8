"""Fan-out: 20 divisions read concurrently with the async client, each under its own 60-calls-a-minute limit.

Aggregate rows per (scaled) second against the limit-imposed maximum: 20 divisions each reading at 60 calls a minute,
computed exactly for the run's start time (calls are counted in clock-aligned minutes), with zero 429s wanted.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Emulator, emulator, figure, main_for

BENCH = "fan-out"
PATH = "crm/Accounts"
PAGE = 60
LIMIT = 60
DIVISIONS = tuple(range(1001, 1021))
MAXIMUM = "limit-imposed maximum"


async def _read_all(emu: Emulator) -> dict[int, int]:
    from exact_online_sdk import AsyncExactOnlineClient

    counts: dict[int, int] = {}
    async with AsyncExactOnlineClient(access_token=emu.token(), base_url=emu.base_url, clock=emu.clock()) as client:

        async def one(division: int) -> None:
            n = 0
            async for page in client.iter_pages(PATH, {"$select": "ID,Code,Name"}, division=division):
                n += len(page.rows)
            counts[division] = n

        await asyncio.gather(*(one(d) for d in DIVISIONS))
    return counts


def once(calls_per_division: int, scale: float) -> dict[str, float]:
    rows_per_division = calls_per_division * PAGE
    with emulator(scale=scale, divisions=DIVISIONS, table_rows={PATH: rows_per_division}) as emu:
        import exact_online_sdk.client  # noqa: F401 - import before the clock starts counting

        counts = asyncio.run(_read_all(emu))
        first, last = emu.api_window() or (0.0, 0.0)
        limited = emu.rate_limited()
    total = sum(counts.values())
    assert total == rows_per_division * len(DIVISIONS), counts
    # Each division may make 60 calls in the minute holding the first call, then 60 in each following minute.
    windows = math.ceil(calls_per_division / LIMIT)
    minimum = max((math.floor(first / 60) + windows - 1) * 60 - first, 1e-9)
    return {
        "rate": total / (last - first),
        "max": total / minimum,
        "429s": limited,
        "elapsed": last - first,
        "minimum": minimum,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    calls = 70 if quick else 150
    scale = 10.0
    results = [once(calls, scale) for _ in range(1 if quick else 3)]
    case = f"{len(DIVISIONS)} divisions x {calls * PAGE:,} rows of {PATH} ({PAGE}/page), async client, clock x{scale:g}"
    rates = [r["rate"] for r in results]
    maxima = [r["max"] for r in results]
    share = [100 * r["rate"] / r["max"] for r in results]
    sustained = len(DIVISIONS) * LIMIT * PAGE / 60
    return [
        figure(
            BENCH,
            case,
            MAXIMUM,
            "rows/s (scaled)",
            sorted(maxima)[len(maxima) // 2],
            runs=maxima,
            note=f"20 x 60 calls/min from the run's first call; sustained 20x rate is {sustained:,.0f} rows/s",
        ),
        figure(
            BENCH,
            case,
            "exact_online_sdk (async)",
            "rows/s (scaled)",
            sorted(rates)[len(rates) // 2],
            runs=rates,
            ratio_to=MAXIMUM,
        ),
        figure(
            BENCH,
            case,
            "exact_online_sdk (async)",
            "share of the maximum (%)",
            sorted(share)[len(share) // 2],
            runs=share,
        ),
        figure(
            BENCH,
            case,
            "exact_online_sdk (async)",
            "429s drawn",
            max(r["429s"] for r in results),
            runs=[r["429s"] for r in results],
            higher_is_better=False,
            note="worst run",
        ),
    ]


if __name__ == "__main__":
    main_for(run)
