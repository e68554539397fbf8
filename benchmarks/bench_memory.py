"""Streaming memory: peak RSS of a process iterating 1,000,000 rows with ``iter_rows`` against one materialising
them in a list. Streaming must stay flat: its peak must not grow with the number of rows.

Each measurement is a fresh process (``ru_maxrss``). The client pages through an in-process transport that serves
one real 1000-row page of ``sync/Financial/TransactionLines`` (bytes as the emulator serves them) again and again
with a ``__next`` link to the next page, so only the client's memory is measured, not a server's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, emulator, figure, main_for, served_page

BENCH = "streaming memory"
PATH = "sync/Financial/TransactionLines"
SELECT = "Timestamp,ID,EntryNumber,Date,GLAccount,Account,AmountDC,Description"

CHILD = """
import json, resource, sys, time
import httpx
from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.clock import ManualClock

mode, pages, page_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = json.dumps(json.loads(open(page_file, 'rb').read())['d']['results'], separators=(',', ':')).encode()
base = 'http://127.0.0.1:9'
url = base + '/api/v1/1001/' + {path!r}

def handler(request):
    i = int(request.url.params.get('$skiptoken', '0'))
    nxt = b'' if i + 1 >= pages else b',"__next":"' + f'{{url}}?$skiptoken={{i + 1}}'.encode() + b'"'
    return httpx.Response(200, content=b'{{"d":{{"results":' + rows + nxt + b'}}}}',
                          headers={{'content-type': 'application/json'}})

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

client = ExactOnlineClient(access_token='t', base_url=base, division=1001, clock=ManualClock(),
                           transport=httpx.MockTransport(handler))
list(client.iter_rows({path!r}, max_rows=1000))  # warm: imports, first page
before = rss_mb()
t = time.perf_counter()
if mode == 'stream':
    n = 0
    for row in client.iter_rows({path!r}):
        n += 1
else:
    kept = list(client.iter_rows({path!r}))
    n = len(kept)
print(json.dumps({{"rows": n, "before": before, "peak": rss_mb(), "seconds": time.perf_counter() - t}}))
"""


def _child(mode: str, pages: int, page_file: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(path=PATH), mode, str(pages), str(page_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(quick: bool) -> list[dict[str, Any]]:
    big = int(os.environ.get("BENCH_MEMORY_PAGES", 100 if quick else 1000))  # pages of 1000 rows
    small = big // 10
    repeats = 1 if quick else 3
    with emulator(table_rows={"financialtransaction/TransactionLines": 1000}) as emu:
        page = served_page(emu, PATH, params=f"$filter=Timestamp gt 1L&$select={SELECT}")
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        page_file = Path(tmp) / "page.json"
        page_file.write_bytes(page)
        base_name = f"iter_rows, {small * 1000:,} rows"
        plan = [
            (base_name, "stream", small),
            (f"iter_rows, {big * 1000:,} rows", "stream", big),
            (f"list(iter_rows(...)), {big * 1000:,} rows", "list", big),
        ]
        case = f"{PATH}, 8 selected fields, Decimal money"
        for name, mode, pages in plan:
            results = [_child(mode, pages, page_file) for _ in range(repeats)]
            assert all(r["rows"] == pages * 1000 for r in results), results
            peaks = [r["peak"] for r in results]
            growth = [r["peak"] - r["before"] for r in results]
            secs = sorted(r["seconds"] for r in results)[len(results) // 2]
            mid = sorted(peaks)[len(peaks) // 2]
            out.append(
                figure(
                    BENCH,
                    case,
                    name,
                    "peak RSS (MB)",
                    mid,
                    runs=peaks,
                    higher_is_better=False,
                    ratio_to=base_name,
                    note=f"{pages * 1000 / secs:,.0f} rows/s through the client",
                )
            )
            out.append(
                figure(
                    BENCH,
                    case,
                    name,
                    "RSS growth while iterating (MB)",
                    sorted(growth)[len(growth) // 2],
                    runs=growth,
                    higher_is_better=False,
                    note="peak minus RSS after the first page",
                )
            )
    return out


if __name__ == "__main__":
    main_for(run)
