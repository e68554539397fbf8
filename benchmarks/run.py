"""Run every ``benchmarks/bench_*.py`` (each in its own process) and write REPORT.md and REPORT.json.

python benchmarks/run.py            # full run (make bench)
python benchmarks/run.py --quick    # fewer repetitions, for a smoke test
python benchmarks/run.py parse      # only modules whose name contains "parse"
python benchmarks/run.py scale      # the scale-out section (bench_scale.py: worker processes, shared DynamoDB budget)
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import machine  # noqa: E402


def collect(quick: bool, only: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for module in sorted(HERE.glob("bench_*.py")):
        if only and not any(word in module.stem for word in only):
            continue
        started = time.perf_counter()
        print(f"== {module.stem}", file=sys.stderr, flush=True)
        args = [sys.executable, str(module)] + (["--quick"] if quick else [])
        proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=HERE.parent)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            failures.append(f"{module.stem}: exit {proc.returncode}: {tail}")
        print(f"   {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows, failures


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``ratio`` (value / the baseline contender's value in the same benchmark and case)."""
    by_case: dict[tuple[str, str, str], dict[str, float]] = {}
    for row in rows:
        if row.get("value") is not None:
            by_case.setdefault((row["benchmark"], row["case"], row["metric"]), {})[row["contender"]] = row["value"]
    for row in rows:
        base_name = row.get("ratio_to")
        base = by_case.get((row["benchmark"], row["case"], row["metric"]), {}).get(base_name or "")
        row["ratio"] = (row["value"] / base) if (base and row.get("value") is not None) else None
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render(rows: list[dict[str, Any]], failures: list[str], info: dict[str, Any]) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"{'a --quick smoke run (few repetitions)' if info.get('mode') == 'quick' else '`make bench`'}. "
        "Every ratio compares "
        "figures measured in the same run on the same machine.",
        "",
        f"Machine: {info['platform']}, {info['cpus']} CPUs, {info['implementation']} {info['python']}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".  ",
        "Peers: " + ", ".join(info["peers"].values()) + ".",
        "",
        "`ratio` is value / the value of the contender named in `vs` for the same case. Spread is (max-min)/median "
        "of the repeated runs.",
        "",
    ]
    lines += summary(rows)
    benchmarks = list(dict.fromkeys(r["benchmark"] for r in rows))
    for name in benchmarks:
        lines += [
            f"## {name}",
            "",
            "| case | contender | metric | median | spread | ratio | vs | note |",
            "|---|---|---|---:|---:|---:|---|---|",
        ]
        for r in (r for r in rows if r["benchmark"] == name):
            runs = r.get("runs") or []
            spread = "-"
            if len(runs) > 1 and r.get("value"):
                mid = sorted(runs)[len(runs) // 2]
                spread = f"{(max(runs) - min(runs)) / mid:.0%}" if mid else "-"
            note = r.get("note") or ""
            if r.get("error"):
                note = f"cannot: {r['error']}"
            ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x"
            lines.append(
                f"| {r['case']} | {r['contender']} | {r['metric']} | {_fmt(r.get('value'))} | {spread} | {ratio} | "
                f"{r.get('ratio_to') or ''} | {note.replace('|', '/')} |"
            )
        lines.append("")
    if failures:
        lines += ["## Benchmarks that failed", ""] + [f"- {f}" for f in failures] + [""]
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """One line per figure of this SDK that has a ratio (or a failure), before the detail."""
    picked = [
        r for r in rows if "exact_online_sdk" in r["contender"] and (r.get("ratio") is not None or r.get("error"))
    ]
    if not picked:
        return []
    out = [
        "## Summary",
        "",
        "| benchmark | case | contender | metric | median | ratio | vs |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for r in picked:
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else f"cannot: {r.get('error')}"
        out.append(
            f"| {r['benchmark']} | {r['case']} | {r['contender']} | {r['metric']} | {_fmt(r.get('value'))} | {ratio} | "
            f"{r.get('ratio_to') or ''} |"
        )
    return [*out, ""]


def main() -> int:
    quick = "--quick" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    started = time.perf_counter()
    rows, failures = collect(quick, only)
    rows = with_ratios(rows)
    info = machine()
    info["elapsed_s"] = round(time.perf_counter() - started, 1)
    # A smoke run (--quick) or a partial run never overwrites the full report.
    stem = "REPORT" if not quick and not only else "REPORT.partial"
    info["mode"] = "quick" if quick else "full"
    (HERE / f"{stem}.json").write_text(json.dumps({"machine": info, "figures": rows, "failures": failures}, indent=1))
    (HERE / f"{stem}.md").write_text(render(rows, failures, info))
    print(f"wrote {HERE / (stem + '.md')} ({len(rows)} figures, {len(failures)} failures, {info['elapsed_s']} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
