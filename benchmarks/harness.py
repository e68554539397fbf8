"""The benchmark harness: repeated measurements, peers in throwaway virtualenvs, and the report.

Every benchmark module under ``benchmarks/`` named ``bench_*.py`` defines ``run(quick: bool) -> list[dict]``; each
dict is one figure::

    {"benchmark": "parsing", "case": "crm/Accounts 1000 rows", "contender": "exact_online_sdk (sync)",
     "metric": "rows/s", "value": 123456.0, "runs": [..], "ratio_to": "json.loads", "higher_is_better": True,
     "note": "..."}

``python benchmarks/run.py`` runs them all and writes ``benchmarks/REPORT.md`` and ``benchmarks/REPORT.json``; each
module also runs alone (``python benchmarks/bench_parse.py``) and prints its figures as JSON lines.
Peers (other Exact clients from PyPI) are installed by :func:`peer_python` into ``benchmarks/.peers/<name>``,
never into the project's environment.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = Path(__file__).resolve().parent / ".peers"

# The peers measured beside this SDK, pinned so figures are comparable between runs.
PEERS: dict[str, str] = {
    "exact-online-sdk": "exact-online-sdk==2.0.0",
    "exactonline": "exactonline==0.4.0",
}


@dataclass(frozen=True, slots=True)
class Stats:
    """Median and spread of repeated runs."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def spread(self) -> float:
        """(max - min) / median, as a fraction."""
        return (max(self.runs) - min(self.runs)) / self.median if self.median else 0.0


def repeat(fn: Callable[[], object], times: int, *, warmup: int = 1) -> Stats:
    """Wall time in seconds of ``fn`` over ``times`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Stats(tuple(runs))


def figure(
    benchmark: str,
    case: str,
    contender: str,
    metric: str,
    value: float | None,
    *,
    runs: Iterable[float] = (),
    higher_is_better: bool = True,
    ratio_to: str | None = None,
    note: str = "",
    error: str | None = None,
) -> dict[str, Any]:
    """One row of the report (``value`` None with ``error`` when a contender cannot do the task)."""
    return {
        "benchmark": benchmark,
        "case": case,
        "contender": contender,
        "metric": metric,
        "value": value,
        "runs": list(runs),
        "higher_is_better": higher_is_better,
        "ratio_to": ratio_to,
        "note": note,
        "error": error,
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "-"

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "versions": {n: version(n) for n in ("exact-online-toolkit", "httpx", "pydantic", "pydantic-core")},
        "peers": dict(PEERS),
    }


def peer_python(name: str) -> Path:
    """The interpreter of a throwaway virtualenv holding peer ``name`` (created on first use)."""
    spec = PEERS[name]
    venv = PEERS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == spec:
        return python
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), spec], check=True)
    stamp.write_text(spec)
    return python


def _uv() -> str:
    from shutil import which

    found = which("uv")
    if found is None:
        raise RuntimeError("uv is needed to build the peers' virtualenvs (make installs it)")
    return found


def run_in(python: Path | str, code: str, *, env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    """Run ``code`` in another interpreter; it must print one JSON document as its last line of output."""
    proc = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(last[:300])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main_for(run: Callable[[bool], list[dict[str, Any]]]) -> None:
    """Entry point of a benchmark module run on its own: prints its figures as JSON lines."""
    quick = "--quick" in sys.argv
    for row in run(quick):
        print(json.dumps(row))
