"""``make audit``: check every locked dependency against a vulnerability database, and say plainly when it could not.

The locked set comes from ``uv export`` (all extras and the default dependency groups, or ``--runtime`` for what the
wheel installs); pip-audit checks it without installing anything (``--no-deps --disable-pip``: every version is
pinned by the lock). pip-audit alone prints "No known vulnerabilities found" and exits 0 when its source answered for
*none* of the packages (each one "skipped"), so its JSON is read here and the verdict is one of:

    0  every dependency was checked and none has a known vulnerability
    1  known vulnerabilities (each listed with its fixed versions)
    2  the audit was not done or not complete: the source could not be reached or skipped dependencies

The sources are pip-audit's: ``pypi`` (PyPI's per-release JSON, the default) or ``osv`` (api.osv.dev). Both need
the internet beyond the package index, so the audit is not part of CI; run it where those hosts are reachable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOT_DONE = 2


@dataclass(frozen=True)
class Verdict:
    """What the audit found: the exit code and the lines to print."""

    code: int
    lines: tuple[str, ...]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def verdict(returncode: int, stdout: str, stderr: str, *, service: str) -> Verdict:
    """Read pip-audit's ``--format json`` output (and exit code) into a verdict that never mistakes an audit that
    could not run for a clean one."""
    try:
        report: Any = json.loads(stdout)
        dependencies = report["dependencies"] if isinstance(report, dict) else None
    except ValueError:
        dependencies = None
    if not isinstance(dependencies, list):
        other = "osv" if service == "pypi" else "pypi"
        return Verdict(
            NOT_DONE,
            (
                f"AUDIT NOT DONE: pip-audit could not query the vulnerability source '{service}' "
                f"(exit {returncode}): {_last_line(stderr)}",
                f"Nothing was checked. Run `make audit` where the source is reachable, or try AUDIT_SERVICE={other}.",
            ),
        )
    checked = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in checked if d.get("vulns")]
    lines: list[str] = []
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            shown = f"{vuln.get('id', '?')}" + (f" ({aliases})" if aliases else "")
            lines.append(f"VULNERABLE: {dep['name']} {dep.get('version', '?')}: {shown}; fixed in: {fixes}")
    if skipped:
        reason = str(skipped[0]["skip_reason"])[:200]
        if not checked:
            lines.append(
                f"AUDIT NOT DONE: the vulnerability source '{service}' answered for none of the {len(skipped)} "
                f"dependencies (first: {reason})."
            )
            lines.append(
                "This usually means the source cannot be reached from here (a package mirror without PyPI's "
                "per-release JSON, or no internet): nothing was checked."
            )
        else:
            names = ", ".join(str(d["name"]) for d in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
            lines.append(
                f"AUDIT INCOMPLETE: {len(skipped)} of {len(dependencies)} dependencies were not checked "
                f"({names}; first reason: {reason})."
            )
        return Verdict(NOT_DONE if not vulnerable else 1, tuple(lines))
    if vulnerable:
        lines.append(f"{len(vulnerable)} of {len(checked)} dependencies have known vulnerabilities ({service}).")
        return Verdict(1, tuple(lines))
    return Verdict(0, (f"No known vulnerabilities in {len(checked)} dependencies (source: {service}, all checked).",))


def export_requirements(path: Path, *, runtime_only: bool) -> None:
    """The locked dependencies, pinned, as a requirements file (no hashes: pip-audit runs with --no-deps)."""
    uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    command = [uv, "export", "--frozen", "--no-hashes", "--all-extras", "--no-emit-project", "--format"]
    command += ["requirements-txt", "--output-file", str(path)]
    if runtime_only:
        command.append("--no-default-groups")
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


def run(service: str, *, runtime_only: bool) -> Verdict:
    """Export the lock, run pip-audit on it, and judge the result."""
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export_requirements(requirements, runtime_only=runtime_only)
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps"]
        command += ["--disable-pip", "--format", "json", "--progress-spinner", "off", "--vulnerability-service"]
        command += [service, "--timeout", "30"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return verdict(done.returncode, done.stdout, done.stderr, service=service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--service", choices=("pypi", "osv"), default=os.environ.get("AUDIT_SERVICE", "pypi"))
    parser.add_argument("--runtime", action="store_true", help="only what the wheel installs (no dev groups)")
    args = parser.parse_args(argv)
    result = run(args.service, runtime_only=args.runtime)
    for line in result.lines:
        print(line)
    return result.code


if __name__ == "__main__":
    sys.exit(main())
