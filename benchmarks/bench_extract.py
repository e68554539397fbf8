"""Extraction under Exact's limits: pull every row of an entity through the emulator over loopback, with Exact's
real limits (60 calls a minute, 5000 a day), on a scaled clock shared by the emulator and the contender.

Per contender and endpoint kind: API calls used against the minimum possible, 429s drawn (emulator counters), share
of the minutely limit used, and elapsed scaled time against the limit-imposed minimum (``ceil(calls/60) - 1``
minutes: every contender starts just after a minute boundary), timed from the first API call to the end of the last
as the emulator logged them. Each run gets a fresh
emulator (fresh daily budget).

Contenders: this SDK (sync, async), a plain hand-written httpx loop (follows ``__next``; no pacing; on a 429 it
waits one second and tries again), and the peers. Peers read ``time`` directly (they take no clock), so their
process gets ``time.time``/``time.sleep`` on the same scaled clock (see ``harness.scaled_time_prelude``).
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    PEERS,
    TABLES,
    Emulator,
    emulator,
    figure,
    main_for,
    peer_python,
    run_in,
    scaled_time_prelude,
)

BENCH = "extraction under limits"
MINIMUM_CALLS = "minimum possible"
LIMIT_MIN = "limit-imposed minimum"
LIMIT = 60

# endpoint -> (page size, query). A realistic extraction selects its columns.
ENDPOINTS: dict[str, tuple[int, dict[str, str]]] = {
    "crm/Accounts": (60, {"$select": "ID,Code,Name,Email,City,Country,Modified"}),
    "sync/Financial/TransactionLines": (
        1000,
        {
            "$filter": "Timestamp gt 1L",
            "$select": "Timestamp,ID,EntryNumber,Date,GLAccount,Account,AmountDC,Description",
        },
    ),
}

Result = dict[str, Any]  # rows, error, elapsed (scaled s)

# Every contender starts its first call just after a minute boundary, so each gets the same full first window and
# elapsed times compare without alignment luck. Peers do the same in their own process, after their imports.
ALIGN = "_a = time.time(); time.sleep((60 - _a % 60) % 60 + 0.05)\n"


def align(clock: Any) -> None:
    """Sleep on ``clock`` until just after the next minute boundary."""
    now = clock.now()
    clock.sleep((60 - now % 60) % 60 + 0.05)


def sdk_sync(emu: Emulator, path: str, params: dict[str, str]) -> Result:
    from exact_online_sdk import ExactOnlineClient

    n = 0
    with ExactOnlineClient(
        access_token=emu.token(), base_url=emu.base_url, division=emu.divisions[0], clock=emu.clock()
    ) as client:
        align(client.clock)
        for page in client.iter_pages(path, params):
            n += len(page.rows)
    return {"rows": n}


def sdk_async(emu: Emulator, path: str, params: dict[str, str]) -> Result:
    from exact_online_sdk import AsyncExactOnlineClient

    async def main() -> int:
        n = 0
        async with AsyncExactOnlineClient(
            access_token=emu.token(), base_url=emu.base_url, division=emu.divisions[0], clock=emu.clock()
        ) as client:
            now = client.clock.now()
            await client.clock.asleep((60 - now % 60) % 60 + 0.05)  # align(), awaited
            async for page in client.iter_pages(path, params):
                n += len(page.rows)
        return n

    return {"rows": asyncio.run(main())}


def httpx_loop(emu: Emulator, path: str, params: dict[str, str]) -> Result:
    """What a user writes without an SDK."""
    import httpx

    clock = emu.clock()
    headers = {"Authorization": f"Bearer {emu.token()}", "Accept": "application/json"}
    n = 0
    url: str | None = f"{emu.base_url}/api/v1/{emu.divisions[0]}/{path}"
    query: dict[str, str] | None = params
    with httpx.Client(headers=headers, timeout=60) as http:
        align(clock)
        while url:
            resp = http.get(url, params=query)
            if resp.status_code == 429:
                clock.sleep(1.0)
                continue
            resp.raise_for_status()
            d = resp.json()["d"]
            n += len(d["results"])
            url, query = d.get("__next"), None
    return {"rows": n}


PEER_EOS = """
import json, sys, time
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.config import Settings
class Auth:
    def get_access_token(self): return {token!r}
settings = Settings('id', 'secret', 'https://localhost/cb', base_url={base!r}, division={division})
ALIGN_HERE
n, err, t0 = 0, None, time.time()
try:
    with ExactOnlineClient(settings, auth=Auth()) as c:
        for page in c.iter_pages({path!r}, params={params!r}):
            n += len(page)
except Exception as exc:
    err = f"{{type(exc).__name__}}: {{exc}}"[:300]
print(json.dumps({{"rows": n, "error": err, "elapsed": time.time() - t0}}))
"""

# exactonline talks https only (opt_secure) and stops after 50 pages (iteration_limit): both are set for loopback.
PEER_EXACTONLINE = """
import json, time
from urllib.parse import urlencode
import exactonline.rawapi, exactonline.http
from exactonline.api import ExactApi
from exactonline.resource import GET
from exactonline.storage.base import ExactOnlineConfig, MissingSetting
exactonline.rawapi.opt_secure = exactonline.http.Options()
class Store(ExactOnlineConfig):
    def __init__(self, d): self.d = d
    def get(self, section, option):
        try: return self.d[(section, option)]
        except KeyError: raise MissingSetting(option)
    def set(self, section, option, value): self.d[(section, option)] = value
store = Store({{('server', 'rest_url'): {base!r} + '/api', ('application', 'base_url'): 'https://localhost/cb',
    ('application', 'client_id'): 'id', ('application', 'client_secret'): 'secret',
    ('application', 'iteration_limit'): '100000', ('transient', 'access_token'): {token!r},
    ('transient', 'access_expiry'): str(int(time.time()) + 10 ** 7), ('transient', 'division'): '{division}'}})
api = ExactApi(storage=store)
ALIGN_HERE
n, err, t0 = 0, None, time.time()
try:
    n = len(api.restv1(GET({path!r} + '?' + urlencode({params!r}))))
except Exception as exc:
    err = f"{{type(exc).__name__}}: {{str(exc).splitlines()[0] if str(exc) else ''}}"[:300]
print(json.dumps({{"rows": n, "error": err, "elapsed": time.time() - t0}}))
"""


def peer_runner(peer: str, template: str) -> Callable[[Emulator, str, dict[str, str]], Result]:
    def go(emu: Emulator, path: str, params: dict[str, str]) -> Result:
        code = scaled_time_prelude(emu.scale, emu.origin, emu.real_origin) + template.format(
            token=emu.token(), base=emu.base_url, division=emu.divisions[0], path=path, params=params
        ).replace("ALIGN_HERE\n", ALIGN)
        return dict(run_in(peer_python(peer), code, timeout=900))

    return go


def contenders() -> dict[str, Callable[[Emulator, str, dict[str, str]], Result]]:
    return {
        "exact_online_sdk (sync)": sdk_sync,
        "exact_online_sdk (async)": sdk_async,
        "plain httpx loop": httpx_loop,
        f"exact-online-sdk {PEERS['exact-online-sdk'].split('==')[1]}": peer_runner("exact-online-sdk", PEER_EOS),
        f"exactonline {PEERS['exactonline'].split('==')[1]}": peer_runner("exactonline", PEER_EXACTONLINE),
    }


def measure(runner: Callable[[Emulator, str, dict[str, str]], Result], path: str, rows: int, scale: float) -> Result:
    """One extraction on a fresh emulator; the emulator's counters say what it cost."""
    table = TABLES[path]
    with emulator(scale=scale, table_rows={table: rows}) as emu:
        try:
            result = runner(emu, path, ENDPOINTS[path][1])
        except Exception as exc:
            result = {"rows": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
        # From the first API call to the end of the last, as the emulator saw them: import and process start-up
        # of a contender do not count.
        window = emu.api_window()
        result["elapsed"] = (window[1] - window[0]) if window else 0.0
        result["first"] = window[0] if window else 0.0
        counters = emu.counters()
        result["calls"] = sum(int(v) for v in counters.get("calls", {}).values())
        result["429s"] = int(counters.get("rate_limited", 0))
    return result


def run(quick: bool) -> list[dict[str, Any]]:
    rows_total = 12_000 if quick else 120_000
    out: list[dict[str, Any]] = []
    for path, (page_size, _params) in ENDPOINTS.items():
        # x60: the standard endpoint's ~33 limit minutes take ~35 s real, and a call's own cost (a few ms real) stays
        # small beside a scaled second. Sync pages cost the emulator ~30 ms real each, so they run at x15: at x60 the
        # emulator, not the limit, would set the pace.
        scale = 60.0 if page_size == 60 else 15.0
        min_calls = math.ceil(rows_total / page_size)
        case = f"{path}: {rows_total:,} rows, {page_size}/page, clock x{scale:g}"
        out.append(figure(BENCH, case, MINIMUM_CALLS, "API calls", min_calls, higher_is_better=False))
        out.append(
            figure(
                BENCH,
                case,
                LIMIT_MIN,
                "elapsed (scaled s)",
                (math.ceil(min_calls / LIMIT) - 1) * 60.0,
                higher_is_better=False,
            )
        )
        for name, runner in contenders().items():
            repeats = 1 if quick or (page_size == 60 and "exact_online_sdk" not in name) else 3
            results = [measure(runner, path, rows_total, scale) for _ in range(repeats)]
            out += _figures(case, name, results, rows_total, min_calls)
    return out


def exact_minimum(first: float, calls: int) -> float:
    """The least time ``calls`` calls can take when the first is made at ``first``: 60 in the minute holding it,
    then 60 in each following clock-aligned minute."""
    windows = math.ceil(calls / LIMIT)
    return 0.0 if windows <= 1 else (math.floor(first / 60) + windows - 1) * 60 - first


def _figures(case: str, name: str, results: list[Result], expected: int, min_calls: int) -> list[dict[str, Any]]:
    def med(key: str) -> float:
        values = sorted(float(r[key]) for r in results)
        return values[len(values) // 2]

    errors = [r["error"] for r in results if r.get("error")]
    complete = [r for r in results if r.get("rows") == expected]
    note = f"{len(complete)}/{len(results)} runs read all {expected:,} rows"
    if errors:
        got = [r.get("rows") for r in results]
        note += f"; stopped with {errors[0]} after {got} rows"
    calls = [float(r["calls"]) for r in results]
    limited = [float(r["429s"]) for r in results]
    # Time figures only from runs that read everything: a run that gave up early is not fast.
    elapsed = [float(r["elapsed"]) for r in complete]
    over = [float(r["elapsed"]) - exact_minimum(float(r["first"]), min_calls) for r in complete]
    unfinished = None if complete else f"never read all rows ({errors[0] if errors else 'stopped early'})"
    # Calls made / calls allowed in the clock-aligned minutes the run touched.
    share = [
        100.0 * r["calls"] / (LIMIT * (math.floor((r["first"] + r["elapsed"]) / 60) - math.floor(r["first"] / 60) + 1))
        for r in results
    ]
    return [
        figure(
            BENCH,
            case,
            name,
            "API calls",
            med("calls"),
            runs=calls,
            higher_is_better=False,
            ratio_to=MINIMUM_CALLS,
            note=note,
        ),
        figure(BENCH, case, name, "429s drawn", med("429s"), runs=limited, higher_is_better=False),
        figure(
            BENCH,
            case,
            name,
            "elapsed (scaled s)",
            sorted(elapsed)[len(elapsed) // 2] if elapsed else None,
            runs=elapsed,
            higher_is_better=False,
            ratio_to=LIMIT_MIN,
            error=unfinished,
        ),
        figure(
            BENCH,
            case,
            name,
            "over the minimum for its start (scaled s)",
            sorted(over)[len(over) // 2] if over else None,
            runs=over,
            higher_is_better=False,
            error=unfinished,
            note="elapsed minus the least time the calls could take from the run's first call",
        ),
        figure(
            BENCH,
            case,
            name,
            "minutely limit used (%)",
            sorted(share)[len(share) // 2],
            runs=share,
            note="calls / (60 x clock-aligned minutes the run touched)",
        ),
    ]


if __name__ == "__main__":
    main_for(run)
