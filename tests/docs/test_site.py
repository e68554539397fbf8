"""The documentation site builds with ``mkdocs build --strict``: no broken link or anchor, no page outside the nav,
no mkdocstrings reference to an object that does not exist (``make docs`` runs the same build in CI)."""

from __future__ import annotations

from pathlib import Path


def test_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").is_file()
    # The API reference really rendered the docstrings (not an empty page).
    client_page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    assert "ExactOnlineClient" in client_page
    assert "iter_pages" in client_page
    runbook = (site / "runbook" / "index.html").read_text(encoding="utf-8")
    assert "RefresherErrors" in runbook
