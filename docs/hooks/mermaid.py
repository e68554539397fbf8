"""MkDocs hook: the diagrams render from the site itself, with no network at view time.

Material for MkDocs draws ```mermaid blocks with the Mermaid script, which it fetches from a CDN unless the page
already defines ``mermaid``. This hook vendors a pinned Mermaid from npm into the built site
(``assets/vendor/mermaid.min.js``) and loads it on the pages that have a diagram, so the docs work offline and
behind strict firewalls.

The script comes from ``npm pack mermaid@VERSION`` (npm's cache first), checked against the registry's published
integrity of the package and the SHA-256 of the file, and is cached in ``node_modules/.cache/``. With no npm or no
network, point ``MERMAID_JS`` at a copy of ``dist/mermaid.min.js`` of that version (its SHA-256 is checked too).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.mermaid")

VERSION = "11.17.2"
PACKAGE_INTEGRITY = "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg=="
SCRIPT_SHA256 = "581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8"
SITE_PATH = "assets/vendor/mermaid.min.js"
MEMBER = "package/dist/mermaid.min.js"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked(data: bytes, origin: str) -> bytes:
    if _sha256(data) != SCRIPT_SHA256:
        raise PluginError(f"mermaid: {origin} is not mermaid {VERSION}'s dist/mermaid.min.js (SHA-256 differs)")
    return data


def _from_npm(workdir: Path) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise PluginError(
            f"mermaid: npm is not installed; install Node 20+, or set MERMAID_JS to mermaid {VERSION}'s "
            "dist/mermaid.min.js"
        )
    done = subprocess.run(  # noqa: S603 - npm found on PATH, fixed arguments
        [npm, "pack", f"mermaid@{VERSION}", "--pack-destination", str(workdir), "--silent", "--prefer-offline"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tarballs = list(workdir.glob("mermaid-*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        raise PluginError(
            f"mermaid: `npm pack mermaid@{VERSION}` failed (no network and not in npm's cache?): "
            f"{done.stderr.strip()[-500:]}; or set MERMAID_JS to a copy of its dist/mermaid.min.js"
        )
    package = tarballs[0].read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(package).digest()).decode()
    if integrity != PACKAGE_INTEGRITY:
        raise PluginError(f"mermaid: the npm package's integrity is {integrity}, not the pinned one")
    with tarfile.open(tarballs[0]) as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise PluginError(f"mermaid: {MEMBER} is missing from the npm package")
        return _checked(member.read(), f"{MEMBER} of the npm package")


def vendored_script(root: Path) -> Path:
    """The checked script: ``MERMAID_JS``, else the cache, else fetched with npm into the cache."""
    given = os.environ.get("MERMAID_JS")
    if given:
        path = Path(given)
        _checked(path.read_bytes(), f"MERMAID_JS={given}")
        return path
    cached = root / "node_modules" / ".cache" / "exact-online-docs" / f"mermaid-{VERSION}.min.js"
    if cached.is_file() and _sha256(cached.read_bytes()) == SCRIPT_SHA256:
        return cached
    with tempfile.TemporaryDirectory(prefix="mermaid-") as tmp:
        data = _from_npm(Path(tmp))
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(cached)
    log.info("mermaid %s vendored from npm into %s", VERSION, cached)
    return cached


def on_files(files: Files, config: Any) -> Files:
    """Add the script to the site."""
    script = vendored_script(Path(config.config_file_path).parent)
    files.append(File.generated(config, SITE_PATH, abs_src_path=str(script)))
    return files


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Load the script on pages with a diagram, before Material looks for ``mermaid`` (at DOMContentLoaded)."""
    if 'class="mermaid"' not in output:
        return output
    src = get_relative_url(SITE_PATH, page.url)
    tag = f'<script src="{src}"></script>'
    head, sep, tail = output.rpartition("</body>")
    return f"{head}{tag}\n{sep}{tail}" if sep else output + tag
