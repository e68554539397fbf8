"""The built documentation site, shared by the tests of this directory (one strict build per session).

``DOCS_SITE_DIR`` points at a site built already (``make docs-check`` builds once into ``site/``); otherwise the
site is built here with ``mkdocs build --strict``, as ``make docs`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .samples import ROOT


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("DOCS_SITE_DIR")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"DOCS_SITE_DIR={given} holds no built site"
        return path
    path = tmp_path_factory.mktemp("docs") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return path
