"""tools/stress.py: burners start, the command's exit status comes back, and no burner outlives the tool."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

STRESS = Path(__file__).resolve().parents[2] / "tools" / "stress.py"


def burner_pids(stderr: str) -> list[int]:
    match = re.search(r"pids \[([\d, ]*)\]", stderr)
    assert match, stderr
    return [int(p) for p in match.group(1).split(",") if p.strip()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_runs_the_command_under_load_and_returns_its_exit_status() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(STRESS),
            "--cores",
            "1",
            "--repeat",
            "3",
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "run 1/3: exit 3" in proc.stderr
    assert "run 2/3" not in proc.stderr  # stops at the first failure
    assert all(gone(pid) for pid in burner_pids(proc.stderr))


def test_repeats_and_keeps_going_when_asked() -> None:
    proc = subprocess.run(
        [sys.executable, str(STRESS), "--cores", "2", "--repeat", "2", "--keep-going", "--", sys.executable, "-c", ""],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 run(s) under 2 busy core(s): ok" in proc.stderr
    assert len(burner_pids(proc.stderr)) == 2


def processes_running(marker: str) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, timeout=30, check=True)
    return [line for line in listing.stdout.splitlines() if marker in line and "ps -ww" not in line]


def test_sigterm_stops_the_command_and_every_burner() -> None:
    marker = f"stress-test-command-{uuid.uuid4().hex}"
    command = [sys.executable, "-c", f"import time; time.sleep(600)  # {marker}"]
    tool = subprocess.Popen(
        [sys.executable, str(STRESS), "--cores", "1", "--", *command], stderr=subprocess.PIPE, text=True
    )
    assert tool.stderr is not None
    first = tool.stderr.readline()  # printed once the burners run, just before the command starts
    pids = burner_pids(first)
    tool.send_signal(signal.SIGTERM)  # often while the command is being started: it must not be left behind
    assert tool.wait(timeout=60) == 130
    assert all(gone(pid) for pid in pids)
    left = processes_running(marker)
    for line in left:  # do not leave them running for ten minutes when this fails
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert left == []


def test_refuses_to_run_without_a_command_or_a_duration() -> None:
    proc = subprocess.run([sys.executable, str(STRESS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "give a command" in proc.stderr


def test_negative_cores_are_refused() -> None:
    sys.path.insert(0, str(STRESS.parent))
    try:
        import stress
    finally:
        sys.path.remove(str(STRESS.parent))
    with pytest.raises(ValueError, match="zero or more"):
        stress.Burners(-1)
