"""``xdist_group`` keeps a group's tests on one worker (tests/conftest.py makes it work under pytest >= 9.2)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a pytest run with two workers in subprocesses: in make test, not in make test-fast


def test_a_groups_tests_all_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_grouped.py").write_text(
        textwrap.dedent(
            """
            import os

            import pytest

            pytestmark = pytest.mark.xdist_group("together")


            @pytest.mark.parametrize("n", range(8))
            def test_where(n):
                with open(os.environ["GROUP_LOG"], "a") as log:
                    log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
            """
        )
    )
    log = tmp_path / "workers.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GROUP_LOG": str(log)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    workers = log.read_text().split()
    assert len(workers) == 8, workers
    assert len(set(workers)) == 1, f"the group was split across workers: {sorted(set(workers))}"
