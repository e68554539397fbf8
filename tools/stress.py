"""Keep CPU cores busy while a command runs: how this project checks that its tests do not depend on machine speed.

    python tools/stress.py --cores 2 --repeat 3 -- make test      # the suite three times on a saturated machine
    python tools/stress.py --cores 2 -- uv run --frozen pytest tests/integration/sync -n 0
    python tools/stress.py --cores 1 --seconds 60                  # just burn one core for a minute

Each burner is a process spinning on integer arithmetic at normal priority (it competes with the tests as a busy
neighbour would). With a command, the burners start first, the command runs ``--repeat`` times in a row (stopping at
the first failure unless ``--keep-going``), then the burners stop and the exit status is the command's. Ctrl-C or
SIGTERM stops the command and every burner; no process is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from types import FrameType

__all__ = ["Burners", "main"]


def _burn(stop: Event) -> None:
    """Spin until ``stop`` is set (checked every few milliseconds of work)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    x = 1
    while not stop.is_set():
        for _ in range(20_000):
            x = (x * 48271) % 2_147_483_647


class Burners:
    """``cores`` busy processes, started on enter and stopped (joined, or killed after a grace period) on exit."""

    def __init__(self, cores: int) -> None:
        if cores < 0:
            raise ValueError("cores must be zero or more")
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._procs = [ctx.Process(target=_burn, args=(self._stop,), name=f"burner-{i}") for i in range(cores)]

    def __enter__(self) -> Burners:
        for proc in self._procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + grace
        for proc in self._procs:
            if proc.pid is None:
                continue
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]


class _Interrupts:
    """SIGINT/SIGTERM as KeyboardInterrupt, held back while a child is being started.

    A signal that lands inside ``subprocess.Popen`` after the fork, before the ``Popen`` object exists, would leave
    the new process group running with nobody to stop it; held back, it is raised once the child can be stopped.
    """

    def __init__(self) -> None:
        self._holding = False
        self._pending = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._holding:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._pending:
                self._pending = False
                raise KeyboardInterrupt


def _run(command: Sequence[str], interrupts: _Interrupts) -> int:
    """Run ``command`` in its own process group; on SIGINT/SIGTERM stop the whole group and re-raise."""
    child: subprocess.Popen[bytes] | None = None
    try:
        with interrupts.held():
            child = subprocess.Popen(list(command), start_new_session=True)
        return child.wait()
    except BaseException:
        if child is not None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="busy processes (default: every core)")
    parser.add_argument("--repeat", type=int, default=1, help="run the command this many times (default 1)")
    parser.add_argument("--keep-going", action="store_true", help="run every repetition even after a failure")
    parser.add_argument("--seconds", type=float, default=None, help="without a command: burn this long")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run under load")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and args.seconds is None:
        parser.error("give a command after --, or --seconds")

    interrupts = _Interrupts()
    interrupts.install()
    results: list[tuple[int, float]] = []
    try:
        with Burners(args.cores) as burners:
            print(f"stress: {args.cores} burner(s) running (pids {burners.pids})", file=sys.stderr, flush=True)
            if not command:
                time.sleep(args.seconds)  # the whole point here is to wait while the burners run
                return 0
            for n in range(1, args.repeat + 1):
                started = time.monotonic()
                code = _run(command, interrupts)
                results.append((code, time.monotonic() - started))
                print(f"stress: run {n}/{args.repeat}: exit {code} in {results[-1][1]:.0f} s", file=sys.stderr)
                if code != 0 and not args.keep_going:
                    break
    except KeyboardInterrupt:
        print("stress: interrupted; burners stopped", file=sys.stderr)
        return 130
    failed = [code for code, _ in results if code != 0]
    summary = ", ".join(f"{'ok' if c == 0 else f'exit {c}'} {s:.0f} s" for c, s in results)
    print(f"stress: {len(results)} run(s) under {args.cores} busy core(s): {summary}", file=sys.stderr)
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main())
