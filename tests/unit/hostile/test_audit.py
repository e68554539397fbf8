"""``make audit`` (issue 15, dependencies): an audit whose vulnerability source could not be reached, or that skipped
dependencies, must never read as "no known vulnerabilities". pip-audit's own summary does (exit 0)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_tool", ROOT / "tools" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_tool"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def report(*dependencies: dict[str, Any]) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_every_dependency_skipped_is_not_a_clean_audit(audit: ModuleType) -> None:
    # What pip-audit prints here, exit 0 and "No known vulnerabilities found", when PyPI's per-release JSON is 404.
    out = report(
        {"name": "httpx", "skip_reason": "Dependency not found on PyPI and could not be audited: httpx (0.28.1)"},
        {"name": "jinja2", "skip_reason": "Dependency not found on PyPI and could not be audited: jinja2 (3.1.6)"},
    )
    result = audit.verdict(0, out, "No known vulnerabilities found", service="pypi")
    assert result.code == 2
    assert result.lines[0].startswith("AUDIT NOT DONE")
    assert "none of the 2 dependencies" in result.lines[0]
    assert not any("No known vulnerabilities" in line for line in result.lines)


def test_an_unreachable_source_is_said_plainly(audit: ModuleType) -> None:
    stderr = "Traceback ...\nrequests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'\n"
    result = audit.verdict(1, "", stderr, service="osv")
    assert result.code == 2
    assert "could not query the vulnerability source 'osv'" in result.lines[0]
    assert "Failed to resolve 'api.osv.dev'" in result.lines[0]


def test_a_partial_audit_names_what_was_not_checked(audit: ModuleType) -> None:
    out = report(
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "private-lib", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    )
    result = audit.verdict(0, out, "", service="pypi")
    assert result.code == 2
    assert "AUDIT INCOMPLETE: 1 of 2" in result.lines[0]
    assert "private-lib" in result.lines[0]


def test_vulnerabilities_are_listed_with_their_fixes(audit: ModuleType) -> None:
    vuln = {"id": "GHSA-xxxx", "aliases": ["CVE-2099-1"], "fix_versions": ["3.1.7"], "description": "..."}
    out = report({"name": "jinja2", "version": "3.1.6", "vulns": [vuln]}, {"name": "httpx", "version": "1"})
    result = audit.verdict(1, out, "", service="pypi")
    assert result.code == 1
    assert result.lines[0] == "VULNERABLE: jinja2 3.1.6: GHSA-xxxx (CVE-2099-1); fixed in: 3.1.7"


def test_a_complete_clean_audit_says_so(audit: ModuleType) -> None:
    out = report({"name": "httpx", "version": "0.28.1", "vulns": []})
    result = audit.verdict(0, out, "", service="pypi")
    assert result.code == 0
    assert result.lines == ("No known vulnerabilities in 1 dependencies (source: pypi, all checked).",)


def test_make_audit_is_a_target_that_runs_the_tool() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\naudit: $(STAMP)" in makefile
    assert "tools/audit.py" in makefile
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "pip-audit" in pyproject
