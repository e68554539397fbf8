"""The benchmark harness: ratios, the report, repeated runs, and one real benchmark module end to end (--quick)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
assert _spec is not None
assert _spec.loader is not None
bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_run)


def _row(contender: str, value: float | None, **kw: object) -> dict[str, object]:
    return harness.figure("parsing", "case A", contender, "rows/s", value, **kw)  # type: ignore[arg-type]


def test_ratios_compare_with_the_named_contender_of_the_same_case_and_metric() -> None:
    rows = [
        _row("json.loads", 200.0),
        _row("sdk", 100.0, ratio_to="json.loads"),
        harness.figure("parsing", "case B", "json.loads", "rows/s", 50.0),
        harness.figure("parsing", "case B", "sdk", "rows/s", 100.0, ratio_to="json.loads"),
        harness.figure("parsing", "case A", "sdk", "MB", 3.0, ratio_to="json.loads"),  # no baseline for this metric
        _row("peer", None, ratio_to="json.loads", error="ValidationError: /Date(ms)/"),
    ]
    out = bench_run.with_ratios(rows)
    assert out[1]["ratio"] == pytest.approx(0.5)
    assert out[3]["ratio"] == pytest.approx(2.0)
    assert out[4]["ratio"] is None
    assert out[5]["ratio"] is None


def test_report_shows_figures_ratios_spread_errors_and_a_summary() -> None:
    rows = bench_run.with_ratios(
        [
            _row("json.loads", 200.0, runs=[190.0, 200.0, 210.0]),
            _row("exact_online_sdk models", 100.0, runs=[90.0, 100.0, 110.0], ratio_to="json.loads"),
            _row("exact-online-sdk 2.0.0", None, ratio_to="json.loads", error="ValidationError | on /Date(1)/"),
        ]
    )
    text = bench_run.render(rows, ["bench_x: exit 1: boom"], harness.machine())
    lines = text.splitlines()
    assert "## Summary" in lines
    assert "## parsing" in lines
    sdk_line = next(line for line in lines if line.startswith("| case A | exact_online_sdk models |"))
    assert "| 100.0 | 20% | 0.50x | json.loads |" in sdk_line
    peer_line = next(line for line in lines if line.startswith("| case A | exact-online-sdk 2.0.0 |"))
    assert "cannot: ValidationError / on /Date(1)/" in peer_line  # a pipe in an error must not break the table
    assert "- bench_x: exit 1: boom" in lines
    assert f"{harness.machine()['cpus']} CPUs" in text


def test_repeat_runs_warmup_then_times_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_now = [100.0]
    monkeypatch.setattr(harness, "time", SimpleNamespace(perf_counter=lambda: fake_now[0]))
    calls: list[float] = []

    def work() -> None:  # the n-th call "takes" n * 10 ms on the harness's timer
        calls.append(fake_now[0])
        fake_now[0] += 0.01 * len(calls)

    stats = harness.repeat(work, 3, warmup=2)
    assert len(calls) == 5
    assert stats.runs == pytest.approx((0.03, 0.04, 0.05))  # the two warm-up runs are not measured
    assert stats.median == pytest.approx(0.04)
    assert harness.Stats((1.0, 2.0, 4.0)).spread == pytest.approx(1.5)


def test_scaled_time_prelude_puts_a_process_on_the_shared_clock() -> None:
    """The prelude makes ``time.time`` read scaled time and ``time.sleep`` sleep scaled seconds. The real clock and
    the real sleep underneath are replaced by fakes first, so the check is exact and takes no time."""
    real_origin, origin = 1_000.0, 1_767_225_600.0
    fakes = (
        "import time\n"
        "_slept = []\n"
        "time.time = lambda: 1_012.0\n"  # 12 real seconds after the real origin
        "time.sleep = _slept.append\n"
    )
    code = (
        fakes
        + harness.scaled_time_prelude(60.0, origin, real_origin)
        + "import json\ntime.sleep(30)\nprint(json.dumps({'now': time.time(), 'slept': _slept}))"
    )
    out = harness.run_in(sys.executable, code)
    assert out["now"] == origin + 12 * 60  # scaled time runs 60 times faster from the shared origin
    assert out["slept"] == [0.5]  # 30 scaled seconds = 0.5 real seconds at x60


def test_run_in_reports_the_failing_line() -> None:
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        harness.run_in(sys.executable, "1 / 0")


@pytest.mark.slow  # a whole benchmark module in a subprocess (~5-15 s): `make test` runs it, `make test-fast` does not
def test_a_benchmark_module_runs_alone_and_prints_figures() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_memory.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BENCH_MEMORY_PAGES": "40"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    peaks = {r["contender"]: r["value"] for r in rows if r["metric"] == "peak RSS (MB)"}
    assert len(peaks) == 3
    assert all(v > 0 for v in peaks.values())
    stream_small, stream_big, materialised = peaks.values()
    # Streaming stays flat as rows grow tenfold; materialising does not.
    assert stream_big < stream_small * 1.25
    assert materialised > stream_big * 1.5
