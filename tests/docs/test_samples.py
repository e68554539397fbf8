"""Every Python sample on the documentation site runs, unchanged, against the emulator over loopback HTTP.

Each runnable sample is written to a file and run in a fresh interpreter (as a reader would run it) with the
environment a reader is told to set: ``EXACT_BASE_URL`` (the emulator), ``EXACT_ACCESS_TOKEN`` (a valid token)
and ``EXACT_DIVISION`` (the user's current division). Samples marked ``title="not run: <reason>"`` are counted
and must give their reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exact_online_sdk.emulator import EmulatorConfig, EmulatorHandle, run_emulator

from .samples import Sample, python_samples

SAMPLES = python_samples()
RUNNABLE = [s for s in SAMPLES if s.runnable]
NOT_RUN = [s for s in SAMPLES if not s.runnable]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig()) as handle:
        yield handle


def sample_env(emulator: EmulatorHandle) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_")}
    env.update(
        EXACT_BASE_URL=emulator.base_url,
        EXACT_ACCESS_TOKEN=emulator.token(),
        EXACT_DIVISION=str(emulator.config.current_division),
    )
    return env


@pytest.mark.parametrize("sample", RUNNABLE, ids=[s.id for s in RUNNABLE])
def test_sample_runs_against_the_emulator(sample: Sample, emulator: EmulatorHandle, tmp_path: Path) -> None:
    script = tmp_path / "sample.py"
    script.write_text(sample.code + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=sample_env(emulator),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{sample.id} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def test_every_sample_is_run_or_says_why_not() -> None:
    assert len(RUNNABLE) >= 20, f"only {len(RUNNABLE)} runnable samples found"
    for sample in NOT_RUN:
        reason = sample.title.partition(":")[2].strip()
        assert reason, f'{sample.id}: a sample that is not run must say why: title="not run: <reason>"'
    # Most of the site must be executable; the exceptions are the pages about a real AWS account.
    assert len(NOT_RUN) <= len(RUNNABLE) // 2, [s.id for s in NOT_RUN]
    print(f"\ndocs samples: {len(RUNNABLE)} run, {len(NOT_RUN)} not run: {[s.id for s in NOT_RUN]}")


def test_samples_are_found_in_fences_only_of_known_languages() -> None:
    from .samples import all_blocks

    langs = {b.lang for b in all_blocks()}
    unknown = langs - {"python", "py", "bash", "text", "json", "mermaid", "toml", "yaml", "dotenv", ""}
    assert not unknown, f"fences in an unexpected language (is a Python sample hiding there?): {unknown}"
