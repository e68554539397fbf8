"""The built site in headless Chromium, served from 127.0.0.1 with no other network: the architecture diagram is
drawn (an SVG, not the raw text), its labels are readable at 1280 px, Exact Online sits outside the AWS box and the
webhook receiver inside it. A screenshot is kept for a person to look at (``make docs-check`` writes
``build/docs-check/concepts.png``).

Skipped, saying why, when no Chromium is installed (``apt-get install -y chromium``, or set ``CHROMIUM``).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .samples import ROOT

WIDTH = 1280
MIN_LABEL_PX = 12.0  # the smallest label, as drawn on the screen (body text is 16 px)

# Injected into a copy of the page (never into the site): Material draws each diagram in a closed shadow root, so
# this opens them, waits for the SVG and writes what it measures into the title for --dump-dom to show.
MEASURE = """<script>
(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) { return attach.call(this, { ...init, mode: "open" }); };
  const label = (el) => {
    const html = el.querySelector(".nodeLabel") || el;  // innerText turns <br> into a space, textContent drops it
    return (html.innerText ?? html.textContent).replace(/\\s+/g, " ").trim();
  };
  function measure() {
    const diagrams = [...document.querySelectorAll("div.mermaid, pre.mermaid")].map((host) => {
      const root = host.shadowRoot || host;
      const svg = root.querySelector("svg");
      if (!svg) return { rendered: false, text: label(host).slice(0, 200) };
      const box = svg.getBoundingClientRect();
      const nodes = {};
      for (const node of root.querySelectorAll("g.node")) {
        const r = node.getBoundingClientRect();
        nodes[label(node)] = [r.left, r.top, r.right, r.bottom];
      }
      const clusters = {};
      for (const cluster of root.querySelectorAll("g.cluster")) {
        const r = cluster.querySelector("rect").getBoundingClientRect();
        clusters[label(cluster)] = [r.left, r.top, r.right, r.bottom];
      }
      const texts = [...root.querySelectorAll("g.node, g.edgeLabel, g.cluster-label")]
        .flatMap((g) => [...g.querySelectorAll("span, p, tspan, div")])
        .filter((el) => label(el) && el.getBoundingClientRect().height > 0);
      const sizes = texts.map((el) => {
        const own = parseFloat(getComputedStyle(el).fontSize);
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return own * scale;
      });
      return { rendered: true, width: box.width, height: box.height, nodes, clusters,
               minFontPx: Math.min(...sizes), labels: texts.length };
    });
    const cutCode = [...document.querySelectorAll("pre > code")]
      .filter((code) => code.scrollWidth > code.clientWidth + 1)
      .map((code) => code.textContent.split("\\n").sort((a, b) => b.length - a.length)[0]);
    document.title = "MEASURED " + JSON.stringify({ viewport: innerWidth, diagrams, cutCode });
  }
  let tries = 0;
  const timer = setInterval(() => {
    const hosts = [...document.querySelectorAll("div.mermaid")];
    const drawn = hosts.filter((h) => (h.shadowRoot || h).querySelector("svg g.node")).length;
    const done = drawn >= EXPECTED_DIAGRAMS;
    if (done || ++tries > 150) { clearInterval(timer); measure(); }
  }, 100);
})();
</script>"""


def chromium() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    found = chromium()
    if found is None:
        pytest.skip("no Chromium to check the site in: `apt-get install -y chromium` (or set CHROMIUM=/path/to/it)")
    return found


class _Handler(SimpleHTTPRequestHandler):
    """The site as a static server shows it, plus ``<page>/measured.html``: the page with MEASURE in its head."""

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if not path.endswith("/measured.html"):
            super().do_GET()
            return
        page = Path(self.directory) / path.removeprefix("/").removesuffix("measured.html") / "index.html"
        text = page.read_text(encoding="utf-8")
        # the diagrams the page has, counted in its HTML (Material replaces each one while it draws it)
        script = MEASURE.replace("EXPECTED_DIAGRAMS", str(text.count('class="mermaid"')))
        body = text.replace("<head>", "<head>" + script, 1).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            # nothing but the local server answers: a fetch from a CDN would fail, not render the diagram
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1100",
            "--virtual-time-budget=30000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def measure(browser: str, url: str, tmp_path: Path) -> dict:
    done = run_chromium(browser, tmp_path, "--dump-dom", url)
    found = re.search(r"<title>MEASURED (.*?)</title>", done.stdout, re.DOTALL)
    assert found, f"the page never reported (exit {done.returncode}): {done.stderr[-2000:]}"
    measured: dict = json.loads(html.unescape(found.group(1)))
    return measured


@pytest.fixture(scope="module")
def measured(browser: str, served: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return measure(browser, f"{served}/concepts/measured.html", tmp_path_factory.mktemp("chromium"))


def the_diagram(measured: dict) -> dict:
    """The one diagram of the concepts page (Material drops the ``mermaid`` class when Mermaid fails to load)."""
    assert len(measured["diagrams"]) == 1, f"no diagram drawn (did Mermaid load?): {measured['diagrams']}"
    diagram: dict = measured["diagrams"][0]
    return diagram


def test_the_architecture_diagram_is_drawn(measured: dict) -> None:
    assert measured["viewport"] == WIDTH
    diagram = the_diagram(measured)
    assert diagram["rendered"], f"raw text instead of a diagram: {diagram.get('text')!r}"
    assert diagram["height"] > 300
    assert len(diagram["nodes"]) >= 10


def test_its_labels_are_readable_at_1280_px(measured: dict) -> None:
    diagram = the_diagram(measured)
    assert diagram["labels"] >= 10
    assert diagram["minFontPx"] >= MIN_LABEL_PX, diagram["minFontPx"]


def inside(inner: list[float], outer: list[float]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_exact_is_outside_the_aws_box_and_the_receiver_inside(measured: dict) -> None:
    diagram = the_diagram(measured)
    [aws] = [box for name, box in diagram["clusters"].items() if "AWS" in name]
    nodes = diagram["nodes"]
    [exact] = [box for name, box in nodes.items() if name == "Exact Online"]
    [receiver] = [box for name, box in nodes.items() if name.startswith("Webhook receiver")]
    [refresher] = [box for name, box in nodes.items() if name.startswith("Refresher Lambda")]
    assert not inside(exact, aws)
    assert inside(receiver, aws)
    assert inside(refresher, aws)


def test_the_quick_start_code_fits_at_1280_px(browser: str, served: str, tmp_path: Path) -> None:
    quick_start = measure(browser, f"{served}/measured.html", tmp_path)
    assert quick_start["viewport"] == WIDTH
    assert quick_start["cutCode"] == []  # lines that would need scrolling, or hide under the copy button


def test_a_screenshot_of_the_concepts_page(browser: str, served: str, tmp_path: Path) -> None:
    out = Path(os.environ.get("DOCS_SCREENSHOT_DIR") or tmp_path)
    if not out.is_absolute():
        out = ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "concepts.png"
    shot.unlink(missing_ok=True)
    done = run_chromium(browser, tmp_path, f"--screenshot={shot}", f"{served}/concepts/")
    assert shot.is_file(), done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a page with a drawing, not a blank one
