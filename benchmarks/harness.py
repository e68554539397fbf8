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

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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


def timed_alternating(
    commands: dict[str, list[str]], times: int, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Stats]:
    """Wall time of each command line, run ``times`` times in alternation (A B A B ...) after one warm-up round,
    so drift on the machine (caches, other load) hits every contender alike."""
    full_env = {**os.environ, **(env or {})}

    def once(argv: list[str]) -> float:
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{argv[-1][:60]!r} failed: {last[:300]}")
        return elapsed

    for argv in commands.values():
        once(argv)
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(times):
        for name, argv in commands.items():
            runs[name].append(once(argv))
    return {name: Stats(tuple(r)) for name, r in runs.items()}


def scaled_time_prelude(scale: float, origin: float, real_origin: float) -> str:
    """Python source that puts a peer's process on the benchmark's ScaledClock: ``time.time`` reads scaled time and
    ``time.sleep`` sleeps scaled seconds. Peers read ``time`` directly (they take no clock), so this is the only
    way to run them against a scaled emulator on the same footing as this SDK (whose clock is injected)."""
    return (
        "import time as _t\n"
        f"_S, _O, _R = {scale!r}, {origin!r}, {real_origin!r}\n"
        "_rt, _rs = _t.time, _t.sleep\n"
        "_t.time = lambda: _O + (_rt() - _R) * _S\n"
        "_t.sleep = lambda s: _rs(max(0.0, s) / _S)\n"
    )


def main_for(run: Callable[[bool], list[dict[str, Any]]]) -> None:
    """Entry point of a benchmark module run on its own: prints its figures as JSON lines."""
    quick = "--quick" in sys.argv
    for row in run(quick):
        print(json.dumps(row))


# -- the emulator, in its own process (so it never shares this process's GIL with the contender measured) ---------

TABLES = {"crm/Accounts": "crm/Accounts", "sync/Financial/TransactionLines": "financialtransaction/TransactionLines"}
"""Endpoint path -> the emulator table behind it (sync endpoints share rows with the standard entity)."""


@dataclass
class Emulator:
    """A running emulator process: where it listens, its clock, and the control API over HTTP."""

    base_url: str
    scale: float
    origin: float
    real_origin: float
    divisions: tuple[int, ...]
    process: subprocess.Popen[str]

    def clock(self) -> Any:
        """A ScaledClock agreeing with the emulator's (SystemClock when unscaled)."""
        from exact_online_sdk.clock import ScaledClock, SystemClock

        if self.scale == 1:
            return SystemClock()
        return ScaledClock(self.scale, origin=self.origin, real_origin=self.real_origin)

    def now(self) -> float:
        """The emulator's time."""
        return self.origin + (time.time() - self.real_origin) * self.scale

    def token(self, division: int | None = None) -> str:
        import httpx

        body = {"division": division} if division else {}
        control = {"X-Emulator-Control": "1"}  # the emulator refuses state-changing control calls without it
        return str(httpx.post(f"{self.base_url}/_emulator/tokens", json=body, headers=control).json()["access_token"])

    def counters(self) -> dict[str, Any]:
        import httpx

        return dict(httpx.get(f"{self.base_url}/_emulator/counters").json())

    def calls(self) -> int:
        """API calls counted against the rate limits (all clients and divisions)."""
        return sum(int(n) for n in self.counters().get("calls", {}).values())

    def api_window(self) -> tuple[float, float] | None:
        """(first API call's start, last API call's end) on the emulator's clock, from its request log."""
        import httpx

        log = [
            e
            for e in httpx.get(f"{self.base_url}/_emulator/requests", timeout=60).json()
            if str(e.get("path", "")).startswith("/api/v1/")
        ]
        if not log:
            return None
        last = log[-1]
        return float(log[0]["time"]), float(last["time"]) + float(last.get("ms", 0)) / 1000 * self.scale

    def rate_limited(self) -> int:
        return int(self.counters().get("rate_limited", 0))


# The child process: the emulator app behind uvicorn, with the HTTP ``Date`` header written from the emulator's clock.
# uvicorn's own Date header is real time; on a scaled clock it disagrees with the X-RateLimit-*-Reset headers, and a
# client that corrects skew from ``Date`` (as this SDK does, as it must against the real Exact) then paces wrongly.
_EMULATOR_MAIN = """
import email.utils, socket
import uvicorn
from exact_online_sdk.clock import ScaledClock
from exact_online_sdk.emulator.app import create_app
from exact_online_sdk.emulator.config import EmulatorConfig
from exact_online_sdk.emulator.state import EmulatorState
clock = ScaledClock({scale!r}, origin={origin!r}, real_origin={real_origin!r}) if {scale!r} != 1 else None
state = EmulatorState({config})
app = create_app(state)

async def dated(scope, receive, send):
    if scope["type"] != "http":
        return await app(scope, receive, send)

    async def send_dated(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
            headers.append((b"date", email.utils.formatdate(state.clock.now(), usegmt=True).encode()))
            message = {{**message, "headers": headers}}
        await send(message)

    await app(scope, receive, send_dated)

try:
    from exact_online_sdk.emulator.server import _protocol_class
    http = _protocol_class()
except ImportError:
    http = "h11"
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY (asyncio)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
print(f"EMULATOR_BASE_URL=http://127.0.0.1:{{sock.getsockname()[1]}}", flush=True)
config = uvicorn.Config(dated, http=http, lifespan="off", log_level="warning", access_log=False,
                        date_header=False, timeout_keep_alive=30)
uvicorn.Server(config).run(sockets=[sock])
"""


@contextlib.contextmanager
def emulator(
    *,
    scale: float = 1.0,
    table_rows: dict[str, int] | None = None,
    divisions: tuple[int, ...] = (1001,),
    minutely_limit: int = 60,
    daily_limit: int = 5000,
) -> Iterator[Emulator]:
    """Start the emulator in a child process on a free loopback port; stop it on exit.

    Tokens live 10 days of emulator time: the benchmarks measure paging and pacing, not token refresh."""
    real_origin = time.time()
    origin = real_origin
    config = (
        f"EmulatorConfig(clock=clock, rows=10, table_rows={table_rows or {}!r}, divisions={divisions!r}, "
        f"minutely_limit={minutely_limit}, daily_limit={daily_limit}, token_lifetime=864000.0, "
        "token_daily_limit=None, request_log_size=50_000)"
    )
    code = _EMULATOR_MAIN.format(scale=scale, origin=origin, real_origin=real_origin, config=config)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("EMULATOR_BASE_URL="):
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the emulator did not start: {line} {err[-500:]}")
        emu = Emulator(line.split("=", 1)[1], scale, origin, real_origin, divisions, proc)
        _wait_healthy(emu.base_url)
        yield emu
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(base_url: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base_url}/_emulator/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not answer /_emulator/health")
        time.sleep(0.05)


def served_page(emu: Emulator, path: str, *, division: int | None = None, params: str = "") -> bytes:
    """The raw bytes of the first page of ``path`` exactly as the emulator serves them."""
    import httpx

    div = division or emu.divisions[0]
    query = params or ("$filter=Timestamp gt 1L" if path.startswith("sync/") else "")
    resp = httpx.get(
        f"{emu.base_url}/api/v1/{div}/{path}" + (f"?{query}" if query else ""),
        headers={"Authorization": f"Bearer {emu.token()}", "Accept": "application/json"},
        timeout=60,
    )
    resp.raise_for_status()
    return resp.content
