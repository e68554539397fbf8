"""The built documentation site, shared by the tests of this directory: one strict build per run.

``DOCS_SITE_DIR`` points at a site built already (``make docs-check`` builds once into ``site/``); otherwise the
site is built here with ``mkdocs build --strict``, as ``make docs`` does. Under xdist the build lives in the run's
common temporary directory behind a file lock, so the workers share one build instead of each making its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from .samples import ROOT


def build_site(path: Path) -> None:
    """``mkdocs build --strict`` into ``path``, written under another name first so a half-built site is never
    taken for a built one."""
    partial = path.with_name(path.name + ".partial")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(partial)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    partial.rename(path)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    given = os.environ.get("DOCS_SITE_DIR")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"DOCS_SITE_DIR={given} holds no built site"
        return path
    if worker_id == "master":  # no xdist: this session is the only user
        path = tmp_path_factory.mktemp("docs") / "site"
        build_site(path)
        return path
    # Every xdist worker's base temp sits in the run's own directory: the build there is this run's, never an old one.
    shared = tmp_path_factory.getbasetemp().parent
    path = shared / "docs-site"
    with FileLock(str(shared / "docs-site.lock")):
        if not path.is_dir():
            build_site(path)
    return path
