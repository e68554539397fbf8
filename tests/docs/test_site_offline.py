"""The built site works without a network: it loads no script, style sheet or font from another host, and its
diagrams come with their own (vendored) Mermaid. The architecture diagram says what the stack is."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from .samples import DOCS

# Attributes that make a browser fetch something while it shows the page (links to follow are not among them).
FETCHED = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
}


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in FETCHED.get(tag, ()):
                self.urls.append((tag, value))
                if tag == "script":
                    self.scripts.append(value)


def external(url: str) -> bool:
    """True for a URL on another host (``https://...``, ``//cdn...``); relative URLs stay on the site."""
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def hook():
    spec = importlib.util.spec_from_file_location("docs_mermaid_hook", DOCS / "hooks" / "mermaid.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_page_fetches_anything_from_another_host(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15
    found = []
    for page in pages:
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(site)}: <{tag}> {url}" for tag, url in parser.urls if external(url)]
    assert not found, "\n".join(found)


def test_no_style_sheet_imports_from_another_host(site: Path) -> None:
    found = []
    for sheet in site.rglob("*.css"):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        for url in re.findall(r"""(?:url\(|@import\s+)\s*["']?([^"')\s]+)""", text):
            if external(url):
                found.append(f"{sheet.relative_to(site)}: {url}")
    assert not found, "\n".join(found)


def test_pages_with_a_diagram_load_the_vendored_mermaid(site: Path) -> None:
    module = hook()
    script = site / module.SITE_PATH
    assert hashlib.sha256(script.read_bytes()).hexdigest() == module.SCRIPT_SHA256
    with_diagrams = [p for p in site.rglob("*.html") if 'class="mermaid"' in p.read_text(encoding="utf-8")]
    assert site / "concepts" / "index.html" in with_diagrams
    for page in with_diagrams:
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8"))
        loaded = [(page.parent / src).resolve() for src in parser.scripts if src.endswith("mermaid.min.js")]
        assert loaded == [script.resolve()], page


def first_mentions(source: str) -> dict[str, bool]:
    """Node id -> whether Mermaid places it inside a subgraph (where the id is first mentioned)."""
    inside, depth = {}, 0
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("subgraph"):
            depth += 1
            continue
        if text == "end":
            depth -= 1
            continue
        if text.startswith("%%") or text.startswith("flowchart"):
            continue
        text = re.sub(r'"[^"]*"', "", text)  # labels may contain anything
        for node in re.findall(r"\b([A-Za-z][A-Za-z0-9_]*)\s*(?=[\[\(\{>]|\s*(?:-|\.|=|~|&|$))", text):
            inside.setdefault(node, depth > 0)
    return inside


def test_the_architecture_diagram_puts_exact_outside_aws_and_the_receiver_inside() -> None:
    source = (DOCS / "diagrams" / "architecture.mmd").read_text(encoding="utf-8")
    labels = dict(re.findall(r'\b([A-Za-z][A-Za-z0-9_]*)\s*[\[\(\{]+"([^"]+)"', source))
    by_label = {label.split("<br/>")[0]: node for node, label in labels.items()}
    placed = first_mentions(source)
    assert placed[by_label["Exact Online"]] is False
    assert placed[by_label["Webhook"]] is True
    assert placed[by_label["Refresher Lambda"]] is True
    assert placed[by_label["Workers"]] is True
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    assert '--8<-- "docs/diagrams/architecture.mmd"' in concepts
