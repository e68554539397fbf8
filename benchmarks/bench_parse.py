"""Parsing: rows per second and memory turning one page, as the emulator serves it, into Python objects.

Contenders side by side on the same bytes, interleaved round by round (so drift on a shared machine hits them alike),
timed as CPU time of this process: ``json.loads`` (the floor: untyped dicts, float money); ``edm.loads`` (dicts with
Decimal money); this SDK's typed rows through its public API (``client.api.<service>.<endpoint>.iter()`` over an
in-memory transport), the same with the transport's own cost taken out (each round also times a bare ``httpx`` GET of
the page through that transport and subtracts it), and its inner decoder alone (``parse_rows``); its raw dict rows
(``client.iter_rows``); its pydantic models (``parse_page``, what editing uses); and the peers in their own
virtualenvs: exact-online-sdk 2.0.0 (its pydantic models, through its own ``_deserialize_item`` per row) and
exactonline 0.4.0 (no typed models: its rows stay ``json.loads`` dicts).

Memory: bytes still allocated (tracemalloc) once a page's 1000 rows are built and kept, for dicts / models / rows.
"""

from __future__ import annotations

import gc
import importlib
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PEERS, emulator, figure, main_for, peer_python, run_in, served_page

BENCH = "parsing"
FLOOR = "json.loads"
TYPED_API = "exact_online_sdk rows: client.api...iter()"
TYPED_API_NET = "exact_online_sdk rows: client.api...iter(), transport aside"
TRANSPORT = "httpx GET alone (in-memory transport)"
BASE_URL = "https://start.exactonline.nl"
DIVISION = 1001


class Case:
    """One page to read: the endpoint served, its path under ``client.api``, the older SDK's class for it."""

    def __init__(self, label: str, path: str, served: str, namespace: str, row: str, peer_cls: str) -> None:
        self.label, self.path, self.served, self.namespace = label, path, served, namespace
        self.row, self.peer_cls = row, peer_cls


CASES = [
    Case(
        "sync/Financial/TransactionLines, 1000 rows",
        "sync/Financial/TransactionLines",
        "sync/Financial/TransactionLines",
        "sync.financial.transaction_lines",
        "SyncTransactionLineRow",
        "SyncFinancialTransactionLinesAPI",
    ),
    Case(
        "crm/Accounts rows (sync/CRM/Accounts page), 1000 rows",
        "sync/CRM/Accounts",
        "sync/CRM/Accounts",
        "sync.crm.accounts",
        "SyncAccountRow",
        "SyncCRMAccountsAPI",
    ),
    Case("crm/Accounts, 60 rows", "crm/Accounts", "crm/Accounts", "crm.accounts", "AccountRow", "AccountsAPI"),
]

# Runs in the peer's virtualenv: times its own deserialisation of the page; prints JSON {"runs": [...]} or error.
PEER_EOS = """
import json, sys, time, gc
from exact_online_sdk.api import endpoints as E
body = open(sys.argv[1] if len(sys.argv) > 1 else {path!r}, 'rb').read()
api = getattr(E, {cls!r}).__new__(getattr(E, {cls!r}))
def parse():
    # What its client + endpoint class do for a page: resp.json(), unwrap d/results, _deserialize_item per row.
    rows = json.loads(body)['d']['results']
    return [api._deserialize_item(r, raw=False) for r in rows]
try:
    parse()
except Exception as exc:
    ctx = getattr(exc, 'context', None) or {{}}
    errs = ctx.get('errors') or []
    first = errs[0] if errs else {{}}
    detail = f"{{type(exc).__name__}}: {{exc}}"
    if first:
        detail += f" ({{len(errs)}} errors in the first row; first: {{first.get('loc')}} {{first.get('type')}} " \\
                  f"on {{str(first.get('input'))[:40]!r}})"
    print(json.dumps({{"error": detail}}))
    raise SystemExit(0)
gc.collect(); gc.freeze()
runs = []
for _ in range({times}):
    t = time.process_time(); rows = parse(); runs.append(time.process_time() - t); del rows
print(json.dumps({{"runs": runs}}))
"""

PEER_EXACTONLINE = """
import json, sys, time, gc
from exactonline.api.unwrap import Unwrap
body = open({path!r}, 'rb').read()
u = Unwrap()
def parse():
    # Its Unwrap step on a decoded page: rows stay dicts ("/Date(ms)/" strings, float money).
    decoded = json.loads(body)
    rows, _next = u._rest_to_result_data_and_next(decoded.pop('d'))
    return rows
parse()
gc.collect(); gc.freeze()
runs = []
for _ in range({times}):
    t = time.process_time(); rows = parse(); runs.append(time.process_time() - t); del rows
print(json.dumps({{"runs": runs}}))
"""


def _client(transport: Any) -> Any:
    from exact_online_sdk import ExactOnlineClient
    from exact_online_sdk.clock import ManualClock

    return ExactOnlineClient(
        access_token="bench", base_url=BASE_URL, division=DIVISION, clock=ManualClock(), transport=transport
    )


def _contenders(case: Case, body: bytes, n: int) -> dict[str, Callable[[], Any]]:
    import httpx

    from exact_online_sdk import edm
    from exact_online_sdk.models import parse_page, parse_rows

    row_cls = getattr(importlib.import_module("exact_online_sdk.models"), case.row)
    model = row_cls.model_class()

    def serve(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json; charset=utf-8"})

    transport = httpx.MockTransport(serve)
    client = _client(transport)
    endpoint = client.api
    for attr in case.namespace.split("."):
        endpoint = getattr(endpoint, attr)
    bare = httpx.Client(transport=transport, base_url=BASE_URL)
    url = f"/api/v1/{DIVISION}/{case.path}"
    # top=n: one page, as served (the 60-row page carries a __next link, which the client would follow).
    return {
        FLOOR: lambda: json.loads(body)["d"]["results"],
        "edm.loads (Decimal)": lambda: edm.loads(body)["d"]["results"],
        TYPED_API: lambda: list(endpoint.iter(top=n)),
        TRANSPORT: lambda: bare.get(url, params={"$top": n}).content,
        "exact_online_sdk rows: parse_rows (decoder alone)": lambda: parse_rows(row_cls, body).rows,
        "exact_online_sdk raw rows: client.iter_rows (dicts)": lambda: list(client.iter_rows(case.path, {"$top": n})),
        "exact_online_sdk models: parse_page (pydantic)": lambda: parse_page(model, body).rows,
    }


def _interleaved(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """CPU seconds per call, contenders alternating within each round; results kept until the clock stops."""
    for fn in fns.values():
        fn()
    # Move the long-lived heap (imported modules, schemas) out of the collector's view, as in the peers' scripts.
    gc.collect()
    gc.freeze()
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.process_time()
            result = fn()
            runs[name].append(time.process_time() - start)
            del result
    return runs


def _retained(fn: Callable[[], Any]) -> int:
    """Bytes allocated by ``fn`` and still held while its result is kept."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del result
    return after - before


def run(quick: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pages: dict[str, bytes] = {}
    with emulator(table_rows={"financialtransaction/TransactionLines": 1000, "crm/Accounts": 1000}) as emu:
        for case in CASES:
            pages[case.label] = served_page(emu, case.served)
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        for case in CASES:
            body = pages[case.label]
            n = len(json.loads(body)["d"]["results"])
            rounds = (5 if quick else 41) * (5 if n < 100 else 1)
            rows += _timed(case, body, n, rounds)
            if n >= 1000:
                rows += _memory(case, body, n)
            page_file = Path(tmp) / f"{case.path.replace('/', '_')}.json"
            page_file.write_bytes(body)
            rows += _peer_figures(case.label, n, page_file, case.peer_cls, rounds)
    return rows


def _timed(case: Case, body: bytes, n: int, rounds: int) -> list[dict[str, Any]]:
    out = []
    try:
        fns = _contenders(case, body, n)
        for name, fn in fns.items():
            got = fn()
            if name != TRANSPORT:
                assert len(got) == n, f"{name} parsed {len(got)} rows of {n}"
        runs = _interleaved(fns, rounds)
    except Exception as exc:
        return [figure(BENCH, case.label, TYPED_API, "rows/s", None, ratio_to=FLOOR, error=str(exc)[:300])]
    # Paired within each round: the typed API's time minus the transport's time of the same round.
    runs[TYPED_API_NET] = [max(a - t, 1e-9) for a, t in zip(runs[TYPED_API], runs[TRANSPORT], strict=True)]
    size = f"{len(body) / 1e6:.2f} MB page, {rounds} rounds"
    for name, secs in runs.items():
        if name == TRANSPORT:
            continue
        per_s = [n / s for s in secs if s > 0]
        # The ratio of each round's pair (same moment, same machine state): steadier than a ratio of medians.
        paired = statistics.median(f / s for f, s in zip(runs[FLOOR], secs, strict=True) if s > 0)
        note = size if name == FLOOR else f"per-round ratio, median: {paired:.2f}x"
        if name == TYPED_API_NET:
            transport_ms = statistics.median(runs[TRANSPORT]) * 1e3
            note += f"; minus a bare httpx GET of the page in the same round (median {transport_ms:.2f} ms)"
        out.append(
            figure(BENCH, case.label, name, "rows/s", statistics.median(per_s), runs=per_s, ratio_to=FLOOR, note=note)
        )
    return out


def _memory(case: Case, body: bytes, n: int) -> list[dict[str, Any]]:
    from exact_online_sdk import edm
    from exact_online_sdk.models import parse_page, parse_rows

    row_cls = getattr(importlib.import_module("exact_online_sdk.models"), case.row)
    model = row_cls.model_class()
    parse_rows(row_cls, body)
    parse_page(model, body)
    contenders = {
        "dicts (json.loads)": lambda: json.loads(body)["d"]["results"],
        "dicts, Decimal money (edm.loads)": lambda: edm.loads(body)["d"]["results"],
        "exact_online_sdk rows (parse_rows)": lambda: parse_rows(row_cls, body).rows,
        "exact_online_sdk models (parse_page)": lambda: parse_page(model, body).rows,
    }
    scale = 1000 / n
    return [
        figure(
            BENCH,
            f"{case.label}: memory held per 1000 rows",
            name,
            "KB",
            _retained(fn) * scale / 1024,
            higher_is_better=False,
            ratio_to="dicts (json.loads)",
            note="tracemalloc: bytes allocated and still held with the rows kept",
        )
        for name, fn in contenders.items()
    ]


def _peer_figures(case: str, n: int, page_file: Path, peer_cls: str, times: int) -> list[dict[str, Any]]:
    out = []
    for peer, template, note in (
        ("exact-online-sdk", PEER_EOS, "its pydantic models via its endpoint class"),
        ("exactonline", PEER_EXACTONLINE, "no typed models: rows stay json.loads dicts (/Date(ms)/ text, float money)"),
    ):
        name = f"{peer} {PEERS[peer].split('==')[1]}"
        try:
            result = run_in(peer_python(peer), template.format(path=str(page_file), cls=peer_cls, times=times))
        except Exception as exc:
            result = {"error": str(exc)[:300]}
        if "error" in result:
            out.append(figure(BENCH, case, name, "rows/s", None, ratio_to=FLOOR, error=result["error"]))
        else:
            runs = [n / r for r in result["runs"] if r > 0]
            out.append(
                figure(
                    BENCH,
                    case,
                    name,
                    "rows/s",
                    statistics.median(runs),
                    runs=runs,
                    ratio_to=FLOOR,
                    note=note + "; its own process",
                )
            )
    return out


if __name__ == "__main__":
    main_for(run)
