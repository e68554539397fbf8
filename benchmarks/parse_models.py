"""Benchmark: typed parsing of a generated 1000-row page (rows and models) vs ``json.loads`` of the same bytes;
and import cost.

    uv run --frozen python benchmarks/parse_models.py [--rows 1000] [--repeat 15]

Not a timed test: prints medians (CPU time) measured side by side in one run, and the ratios. ``bench_parse.py`` is
the reported benchmark (emulator pages, through the public API); this one varies how full the rows are.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from exact_online_sdk.models import parse_page, parse_rows
from exact_online_sdk.registry import registry


def _value(edm_type: str, rnd: random.Random) -> Any:
    if edm_type == "Edm.String":
        return f"text {rnd.randint(0, 10**6)}"
    if edm_type == "Edm.Guid":
        return str(uuid.UUID(int=rnd.getrandbits(128)))
    if edm_type == "Edm.DateTime":
        return f"/Date({rnd.randint(0, 2 * 10**12)})/"
    if edm_type in ("Edm.Int16", "Edm.Int32", "Edm.Byte"):
        return rnd.randint(0, 100)
    if edm_type == "Edm.Int64":
        return str(rnd.randint(0, 10**12))
    if edm_type == "Edm.Double":
        return round(rnd.random() * 10_000, 2)
    if edm_type == "Edm.Boolean":
        return rnd.random() < 0.5
    return None


def page_bytes(path: str, rows: int, fill: float, seed: int = 1) -> bytes:
    """A realistic page: ``__metadata``, ``/Date()/``, Int64 strings, deferred navigation; ``fill`` = share non-null."""
    rnd = random.Random(seed)
    ep = registry()[path]
    out = []
    for i in range(rows):
        row: dict[str, Any] = {"__metadata": {"uri": f"https://start.exactonline.nl/api/v1/1/{path}({i})", "type": "x"}}
        for f in ep.fields:
            if f.is_navigation:
                row[f.name] = {"__deferred": {"uri": f"https://start.exactonline.nl/api/v1/1/{path}/{f.name}"}}
            else:
                row[f.name] = _value(f.edm_type, rnd) if rnd.random() < fill else None
        out.append(row)
    return json.dumps({"d": {"results": out, "__next": "https://start.exactonline.nl/next"}}).encode()


def median_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """CPU seconds per call, the contenders alternating within each round."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.process_time()
            result = fn()
            times[name].append(time.process_time() - start)
            del result
    return {name: statistics.median(t) for name, t in times.items()}


def parse_benchmark(rows: int, repeat: int) -> None:
    from exact_online_sdk.api.endpoints import AccountsAPI, TransactionLinesSyncAPI

    for api, fill in ((AccountsAPI, 1.0), (AccountsAPI, 0.5), (TransactionLinesSyncAPI, 0.7)):
        data = page_bytes(api.path, rows, fill)
        t = median_times(
            {
                "json.loads": lambda d=data: json.loads(d),
                "rows": lambda d=data, r=api.row: parse_rows(r, d),
                "models": lambda d=data, m=api.model: parse_page(m, d),
            },
            repeat,
        )
        floor = t["json.loads"]
        print(
            f"{api.path:32} fill={fill:.0%} {len(data) / 1e6:5.1f} MB  json.loads {rows / floor:9.0f} rows/s  "
            f"rows {floor / t['rows']:.2f}x  models {floor / t['models']:.2f}x"
        )


def import_benchmark(repeat: int) -> None:
    sdk = "import exact_online_sdk; exact_online_sdk.ExactOnlineClient(access_token='t', division=1)"
    base = "import httpx, pydantic"

    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    sdk_times, base_times = [], []
    for _ in range(repeat):  # interleaved, side by side
        sdk_times.append(run(sdk))
        base_times.append(run(base))
    s, b = statistics.median(sdk_times), statistics.median(base_times)
    print(f"import+client {s * 1e3:.0f} ms  vs  import httpx, pydantic {b * 1e3:.0f} ms  ratio {s / b:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    parse_benchmark(args.rows, args.repeat)
    import_benchmark(args.repeat)


if __name__ == "__main__":
    main()
