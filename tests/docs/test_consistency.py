"""What the documentation tells a reader to type exists and is the pinned thing: every `exact-online ...` command
named in the docs and the README is a real command, and deploying uses the CDK CLI pinned by package-lock.json
(`make cdk`, then `node_modules/.bin/cdk`), never `npx cdk` (which may fetch an unpinned package)."""

from __future__ import annotations

import re

from typer.main import get_command

from exact_online_sdk.cli import app

from .samples import DOCS, ROOT

PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "cdk" / "README.md", ROOT / "CONTRIBUTING.md"])


def commands() -> dict[str, set[str]]:
    root = get_command(app)
    return {name: set(getattr(sub, "commands", None) or ()) for name, sub in root.commands.items()}


def test_every_exact_online_command_in_the_docs_exists() -> None:
    known = commands()
    wrong = []
    for page in PAGES:
        for line_no, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for name, sub in re.findall(r"(?<![\w/-])exact-online ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", line):
                if name not in known or (known[name] and sub and sub not in known[name]):
                    wrong.append(f"{page.relative_to(ROOT)}:{line_no}: exact-online {name} {sub}".rstrip())
    assert not wrong, "\n".join(wrong)


def test_deploying_uses_the_pinned_cdk_cli() -> None:
    unpinned = []
    for page in PAGES:
        for line_no, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bnpx\s+(aws-)?cdk\b", line) or re.search(
                r"(?<![\w./$-])cdk (deploy|synth|diff|bootstrap|destroy)\b", line
            ):
                unpinned.append(f"{page.relative_to(ROOT)}:{line_no}: {line.strip()}")
    assert not unpinned, "\n".join(unpinned)
