"""Parsing: rows per second turning one 1000-row page, as the emulator serves it, into typed objects.

Contenders side by side on the same bytes: ``json.loads`` (the floor: untyped dicts, float money), ``edm.loads``
(dicts with Decimal money), this SDK's generated models (``parse_page`` validates the raw bytes in pydantic-core),
and the peers in their own virtualenvs: exact-online-sdk 2.0.0 (its pydantic models, through its own
``_deserialize_item`` per row) and exactonline 0.4.0 (no typed models: its rows stay ``json.loads`` dicts).
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PEERS, emulator, figure, main_for, peer_python, repeat, run_in, served_page

BENCH = "parsing"
FLOOR = "json.loads"

# case label -> (endpoint served, this SDK's model, the older SDK's endpoint class)
CASES: dict[str, tuple[str, str, str]] = {
    "sync/Financial/TransactionLines, 1000 rows": (
        "sync/Financial/TransactionLines",
        "exact_online_sdk.models._generated.sync_financial:SyncTransactionLine",
        "SyncFinancialTransactionLinesAPI",
    ),
    "crm/Accounts rows (sync/CRM/Accounts page), 1000 rows": (
        "sync/CRM/Accounts",
        "exact_online_sdk.models._generated.sync_crm:SyncAccount",
        "SyncCRMAccountsAPI",
    ),
}

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
    t = time.perf_counter(); parse(); runs.append(time.perf_counter() - t)
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
    t = time.perf_counter(); parse(); runs.append(time.perf_counter() - t)
print(json.dumps({{"runs": runs}}))
"""


def _load(ref: str) -> Any:
    import importlib

    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _rows_per_s(runs: tuple[float, ...] | list[float], n: int) -> list[float]:
    return [n / r for r in runs]


def _contenders(model_ref: str) -> dict[str, Callable[[bytes], Any]]:
    from exact_online_sdk import edm

    out: dict[str, Callable[[bytes], Any]] = {
        FLOOR: lambda b: json.loads(b)["d"]["results"],
        "edm.loads (Decimal)": lambda b: edm.loads(b)["d"]["results"],
    }
    try:
        from exact_online_sdk.models import parse_page

        model = _load(model_ref)
        out["exact_online_sdk models (parse_page)"] = lambda b: parse_page(model, b).rows
        out["exact_online_sdk models (model_validate per edm row)"] = lambda b: [
            model.model_validate(r) for r in edm.loads(b)["d"]["results"]
        ]
    except Exception as exc:
        out["exact_online_sdk models (parse_page)"] = _raiser(exc)
    return out


def _settle() -> None:
    # Move the long-lived heap (imported modules, schemas) out of the collector's view, as in the peers' scripts,
    # so every contender's allocations are collected against a like-sized heap.
    gc.collect()
    gc.freeze()


def _raiser(exc: Exception) -> Callable[[bytes], Any]:
    def fail(_: bytes) -> Any:
        raise exc

    return fail


def run(quick: bool) -> list[dict[str, Any]]:
    times = 5 if quick else 25
    rows: list[dict[str, Any]] = []
    pages: dict[str, bytes] = {}
    with emulator(table_rows={"financialtransaction/TransactionLines": 1000, "crm/Accounts": 1000}) as emu:
        for case, (path, _m, _c) in CASES.items():
            pages[case] = served_page(emu, path)
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        for case, (path, model_ref, peer_cls) in CASES.items():
            body = pages[case]
            n = len(json.loads(body)["d"]["results"])
            note_size = f"{len(body) / 1e6:.2f} MB page"
            for name, fn in _contenders(model_ref).items():
                try:
                    parsed = fn(body)
                    assert len(parsed) == n, f"{name} parsed {len(parsed)} rows of {n}"
                    _settle()
                    stats = repeat(lambda fn=fn, body=body: fn(body), times)  # type: ignore[misc]
                except Exception as exc:
                    rows.append(figure(BENCH, case, name, "rows/s", None, ratio_to=FLOOR, error=str(exc)[:300]))
                    continue
                runs = _rows_per_s(stats.runs, n)
                rows.append(
                    figure(
                        BENCH,
                        case,
                        name,
                        "rows/s",
                        n / stats.median,
                        runs=runs,
                        ratio_to=FLOOR,
                        note=note_size if name == FLOOR else "",
                    )
                )
            page_file = Path(tmp) / f"{path.replace('/', '_')}.json"
            page_file.write_bytes(body)
            rows += _peer_figures(case, n, page_file, peer_cls, times)
    return rows


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
            runs = _rows_per_s(result["runs"], n)
            med = sorted(runs)[len(runs) // 2]
            out.append(figure(BENCH, case, name, "rows/s", med, runs=runs, ratio_to=FLOOR, note=note))
    return out


if __name__ == "__main__":
    started = time.perf_counter()
    main_for(run)
