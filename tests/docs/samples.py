"""Find the fenced Python samples of the documentation site (docs/**/*.md).

A sample is a fenced block whose language is ``python`` or ``py``. It is run by ``test_samples.py`` unless its
fence carries a title that starts with "not run" (````python title="not run: needs an AWS account"````), which
Material renders as a visible caption, so the reader sees it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)(?P<attrs>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
PYTHON = {"python", "py"}


@dataclass(frozen=True)
class Sample:
    """One fenced code block."""

    page: str
    line: int
    lang: str
    title: str
    code: str

    @property
    def runnable(self) -> bool:
        return self.lang in PYTHON and not self.title.lower().startswith("not run")

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Sample]:
    """Every fenced block of one page, in order (fences inside fences are not supported)."""
    found: list[Sample] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(DOCS).as_posix()
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, indent = match["fence"], match["indent"]
        title_match = _TITLE.search(match["attrs"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"{page}:{start + 1}: unclosed code fence")
        i += 1
        found.append(
            Sample(page, start + 1, match["lang"].lower(), title_match["title"] if title_match else "", "\n".join(body))
        )
    return found


def all_blocks() -> list[Sample]:
    """The blocks of every page under docs/, pages in sorted order."""
    return [b for page in sorted(DOCS.rglob("*.md")) for b in blocks(page)]


def python_samples() -> list[Sample]:
    """Every Python block, runnable or not."""
    return [b for b in all_blocks() if b.lang in PYTHON]
