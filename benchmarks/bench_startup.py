"""Start-up: importing the SDK and building a client, the first typed read, the refresher handler's cold import, the
Lambda layer's size.

Each import is timed as a fresh interpreter (``python -c ...``) so nothing is cached in-process; contenders run in
alternation so machine drift hits them alike. Goal: the SDK plus a client within 1.5x of ``import httpx, pydantic``.
Typed use adds the first read of a page (over an in-memory transport): as rows (msgspec; no pydantic model is built)
and, for comparison, as the pydantic model that editing uses.
"""

from __future__ import annotations

import ast
import os
import resource
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PEERS, ROOT, Stats, figure, main_for, peer_python

BENCH = "start-up"
SDK = "exact_online_sdk + client"
BASE = "import httpx, pydantic"
HANDLER = ROOT / "lambdas" / "refresher" / "handler.py"
LAYER_TOOL = ROOT / "tools" / "build_layer.py"

SDK_CODE = "import exact_online_sdk; c = exact_online_sdk.ExactOnlineClient(access_token='t', division=1); c.close()"
_FIRST_READ = (
    "import httpx, exact_online_sdk\n"
    'row = b\'{"__metadata":{"uri":"u"},"ID":"3fa85f64-5717-4562-b3fc-2c963f66afa6","Name":"A","CreditLineSales":1.10,'
    '"Created":"/Date(1704067200000)/"}\'\n'
    "def answer(request):\n"
    "    body = b'{\"d\":' + row + b'}' if '(' in request.url.path else b'{\"d\":{\"results\":[' + row + b']}}'\n"
    "    return httpx.Response(200, content=body, headers={'content-type': 'application/json'})\n"
    "c = exact_online_sdk.ExactOnlineClient(access_token='t', division=1, transport=httpx.MockTransport(answer))\n"
)
SDK_ROWS = "exact_online_sdk + client + first typed read (rows)"
SDK_ROWS_CODE = _FIRST_READ + "assert str(c.api.crm.accounts.list()[0].credit_line_sales) == '1.10'; c.close()"
SDK_MODEL = "exact_online_sdk + client + first read as a model (pydantic)"
SDK_MODEL_CODE = (
    _FIRST_READ + "assert c.api.crm.accounts.get('3fa85f64-5717-4562-b3fc-2c963f66afa6').name == 'A'; c.close()"
)
PEER_CODE = (
    "from exact_online_sdk import ExactOnlineClient; from exact_online_sdk.config import Settings\n"
    "class A:\n    def get_access_token(self): return 't'\n"
    "c = ExactOnlineClient(Settings('id', 'secret', 'https://localhost/cb', division=1), auth=A()); c.close()"
)
# Environment a Lambda would have; the handler must not need AWS at import (no work at import time).
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "exact-refresher",
    "POWERTOOLS_METRICS_NAMESPACE": "ExactOnline",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def _ms(stats: Any) -> list[float]:
    return [r * 1000 for r in stats.runs]


# Children run with bytecode caching on (as an installed package has its .pyc files), even when this process was
# started with PYTHONDONTWRITEBYTECODE: otherwise every run would compile every module from source.
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_alternating(commands: dict[str, list[str]], times: int, env: dict[str, str] | None = None) -> dict[str, Stats]:
    """CPU seconds (user + system) of each command line, run ``times`` times in alternation after one warm-up
    round. CPU time, not wall time: on a shared machine other processes' load does not count against a contender."""

    def once(argv: list[str]) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            argv, capture_output=True, text=True, env={**_CHILD_ENV, **(env or {})}, cwd=ROOT, check=False
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{argv[-1][:60]!r} failed: {last[:300]}")
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    for argv in commands.values():
        once(argv)
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(times):
        for name, argv in commands.items():
            runs[name].append(once(argv))
    return {name: Stats(tuple(r)) for name, r in runs.items()}


def import_figures(times: int) -> list[dict[str, Any]]:
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        BASE: [py, "-c", "import httpx, pydantic"],
        SDK: [py, "-c", SDK_CODE],
        SDK_ROWS: [py, "-c", SDK_ROWS_CODE],
        SDK_MODEL: [py, "-c", SDK_MODEL_CODE],
    }
    peer_error = None
    try:
        commands["exact-online-sdk " + PEERS["exact-online-sdk"].split("==")[1] + " + client"] = [
            str(peer_python("exact-online-sdk")),
            "-c",
            PEER_CODE,
        ]
    except Exception as exc:
        peer_error = str(exc)[:200]
    stats = cpu_alternating(commands, times)
    case = f"fresh interpreter, CPU time, median of {times} alternating runs"
    rows = []
    for name, st in stats.items():
        note = ""
        if name == SDK:
            note = f"goal <= 1.5x {BASE}; {st.median / stats[BASE].median:.2f}x"
        elif name == SDK_ROWS:
            note = "msgspec and one service's row classes, no pydantic; in-memory transport (no TLS context)"
        elif name == SDK_MODEL:
            note = "pydantic and one service's models (what editing needs); in-memory transport (no TLS context)"
        elif name == "python -c pass":
            note = "interpreter start alone (included in every figure)"
        elif name.startswith("exact-online-sdk"):
            note = "the older SDK, in its own virtualenv (same interpreter)"
        rows.append(
            figure(
                BENCH,
                case,
                name,
                "ms",
                st.median * 1000,
                runs=_ms(st),
                higher_is_better=False,
                ratio_to=BASE,
                note=note,
            )
        )
    if peer_error:
        rows.append(figure(BENCH, case, "exact-online-sdk", "ms", None, higher_is_better=False, error=peer_error))
    # The import cost net of interpreter start, which is what a user's process actually pays.
    base_net = stats[BASE].median - stats["python -c pass"].median
    rows.append(
        figure(BENCH, "net of interpreter start", BASE, "ms", base_net * 1000, higher_is_better=False, ratio_to=BASE)
    )
    for name in (SDK, SDK_ROWS, SDK_MODEL):
        net = stats[name].median - stats["python -c pass"].median
        rows.append(
            figure(
                BENCH,
                "net of interpreter start",
                name,
                "ms",
                net * 1000,
                higher_is_better=False,
                ratio_to=BASE,
                note="median difference",
            )
        )
    return rows


def _powertools_imports(source: str) -> list[str]:
    """The ``aws_lambda_powertools`` import statements of the handler, to import exactly those alone."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aws_lambda_powertools"):
            names = ", ".join(a.name for a in node.names)
            lines.append(f"from {node.module} import {names}")
        elif isinstance(node, ast.Import):
            lines += [f"import {a.name}" for a in node.names if a.name.startswith("aws_lambda_powertools")]
    return lines


def handler_figures(times: int) -> list[dict[str, Any]]:
    case = f"refresher handler cold import, CPU time, median of {times}"
    contender = "lambdas/refresher/handler.py"
    base = "Powertools alone (same utilities, built)"
    if not HANDLER.exists():
        return [figure(BENCH, case, contender, "ms", None, higher_is_better=False, error="handler.py not built yet")]
    pt = _powertools_imports(HANDLER.read_text()) or ["import aws_lambda_powertools"]
    # A Powertools-only handler builds its utilities at module level, as the refresher does.
    imported = " ".join(pt)
    pt += [f"{name.lower()} = {name}()" for name in ("Logger", "Metrics", "Tracer") if f" {name}" in imported]
    py = sys.executable
    code_handler = f"import sys; sys.path.insert(0, {str(HANDLER.parent)!r}); import handler"
    commands = {
        "python -c pass": [py, "-c", "pass"],
        base: [py, "-c", "; ".join(pt)],
        contender: [py, "-c", code_handler],
    }
    try:
        stats = cpu_alternating(commands, times, env=LAMBDA_ENV)
    except RuntimeError as exc:
        return [figure(BENCH, case, contender, "ms", None, higher_is_better=False, error=str(exc))]
    return [
        figure(
            BENCH,
            case,
            name,
            "ms",
            st.median * 1000,
            runs=_ms(st),
            higher_is_better=False,
            ratio_to=base,
            note=("; ".join(pt) if name == base else ""),
        )
        for name, st in stats.items()
    ]


def _tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def layer_figures() -> list[dict[str, Any]]:
    case = "Lambda layer (arm64, python 3.13)"
    if not LAYER_TOOL.exists():
        return [
            figure(BENCH, case, "SDK layer", "MB", None, higher_is_better=False, error="tools/build_layer.py missing")
        ]
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as tmp:
        out, zipped = Path(tmp) / "layer", Path(tmp) / "layer.zip"
        proc = subprocess.run(
            [
                sys.executable,
                str(LAYER_TOOL),
                "--arch",
                "arm64",
                "--python-version",
                "3.13",
                "--out",
                str(out),
                "--zip",
                str(zipped),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=600,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            return [figure(BENCH, case, "SDK layer", "MB", None, higher_is_better=False, error=last[:300])]
        unzipped = _tree_size(out)
        with zipfile.ZipFile(zipped) as zf:
            members = len(zf.namelist())
        packages = sorted(p.name for p in (out / "python").iterdir() if p.is_dir() and not p.name.endswith("-info"))
        note = f"{members} files; packages: {', '.join(packages)}"
        return [
            figure(
                BENCH,
                case,
                "SDK layer, zipped",
                "MB",
                zipped.stat().st_size / 1e6,
                higher_is_better=False,
                note="Lambda limit: 50 MB zipped upload",
            ),
            figure(
                BENCH,
                case,
                "SDK layer, unzipped",
                "MB",
                unzipped / 1e6,
                higher_is_better=False,
                note="Lambda limit: 250 MB unzipped (function + layers); " + note,
            ),
        ]


def run(quick: bool) -> list[dict[str, Any]]:
    times = 5 if quick else 21
    rows = import_figures(times)
    rows += handler_figures(5 if quick else 15)
    if not quick or os.environ.get("BENCH_LAYER") == "1":
        rows += layer_figures()
    return rows


if __name__ == "__main__":
    main_for(run)
