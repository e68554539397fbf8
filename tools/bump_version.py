"""Bump the one version of the project and date the CHANGELOG's Unreleased section (``make bump-version``).

    python tools/bump_version.py patch|minor|major [--date YYYY-MM-DD] [--dry-run]
    python tools/bump_version.py --set 1.4.0

The version lives in one place, ``sdk/exact_online_sdk/_version.py`` (``exact_online_sdk.__version__``); the
wheel's metadata reads it from there (``[tool.hatch.version]`` in pyproject.toml). The entries under
``## [Unreleased]`` in CHANGELOG.md move under ``## [X.Y.Z] - date``, and a new, empty Unreleased section stays on
top. Nothing is written when there is nothing to release or the version would not grow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "sdk" / "exact_online_sdk" / "_version.py"
CHANGELOG = ROOT / "CHANGELOG.md"

_VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_UNRELEASED = "## [Unreleased]"
_UNRELEASED_HEADING = re.compile(r"^## \[Unreleased\][ \t]*$", re.MULTILINE)


class BumpError(Exception):
    """The bump cannot be made (the message says why); nothing was written."""


@dataclass(frozen=True)
class Bump:
    """The files as they would be after the bump."""

    old: str
    new: str
    version_text: str
    changelog_text: str


def parse(version: str) -> tuple[int, int, int]:
    """``"1.2.3"`` as numbers; anything else is a BumpError."""
    match = _SEMVER.match(version)
    if match is None:
        raise BumpError(f"{version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def next_version(current: str, part: str) -> str:
    """``current`` with ``part`` (major, minor or patch) raised and the smaller parts reset."""
    major, minor, patch = parse(current)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise BumpError(f"unknown part {part!r}: major, minor or patch")


def current_version(version_text: str) -> str:
    """The version written in ``_version.py``'s text."""
    match = _VERSION_LINE.search(version_text)
    if match is None:
        raise BumpError(f"no __version__ line in {VERSION_FILE.name}")
    return match["version"]


def date_unreleased(changelog: str, version: str, date: str) -> str:
    """``changelog`` with the Unreleased entries moved under ``## [version] - date``."""
    heading = _UNRELEASED_HEADING.search(changelog)
    if heading is None:
        raise BumpError(f"CHANGELOG.md has no '{_UNRELEASED}' section")
    if re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE):
        raise BumpError(f"CHANGELOG.md already has a section for {version}")
    head, rest = changelog[: heading.start()], changelog[heading.end() :]
    following = re.search(r"^## \[", rest, re.MULTILINE)
    entries = rest[: following.start()] if following else rest
    if not re.search(r"^\s*[-*] \S", entries, re.MULTILINE):
        raise BumpError("the Unreleased section lists no change: nothing to release")
    tail = rest[len(entries) :]
    return f"{head}{_UNRELEASED}\n\n## [{version}] - {date}{entries.rstrip()}\n\n{tail}".rstrip() + "\n"


def plan(part: str | None, to: str | None, date: str, version_text: str, changelog: str) -> Bump:
    """The bump to ``to`` (or by ``part``), as new file contents."""
    old = current_version(version_text)
    new = to if to is not None else next_version(old, part or "")
    if parse(new) < parse(old):
        raise BumpError(f"{new} is lower than the current {old}")
    new_version_text = _VERSION_LINE.sub(f'__version__ = "{new}"', version_text, count=1)
    return Bump(old, new, new_version_text, date_unreleased(changelog, new, date))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("part", nargs="?", choices=("major", "minor", "patch"), help="which part to raise")
    which.add_argument("--set", dest="to", metavar="X.Y.Z", help="an explicit version (not lower than the current)")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="release date (default: today)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    args = parser.parse_args(argv)
    try:
        bump = plan(args.part, args.to, args.date, VERSION_FILE.read_text("utf-8"), CHANGELOG.read_text("utf-8"))
    except BumpError as exc:
        print(f"bump-version: {exc}", file=sys.stderr)
        return 2
    if not args.dry_run:
        VERSION_FILE.write_text(bump.version_text, "utf-8")
        CHANGELOG.write_text(bump.changelog_text, "utf-8")
    verb = "would bump" if args.dry_run else "bumped"
    print(f"{verb} {bump.old} -> {bump.new}; CHANGELOG.md: Unreleased dated {args.date}")
    if not args.dry_run:
        print(f'next: git commit -am "Release {bump.new}" && git tag v{bump.new}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
