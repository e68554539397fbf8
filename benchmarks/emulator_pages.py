"""Emulator throughput: 1000-row sync pages per second over real loopback HTTP (plain httpx, one connection).

uv run --frozen python benchmarks/emulator_pages.py [--rows 100000] [--select ID,Timestamp,...]
"""

from __future__ import annotations

import argparse
import time

import httpx

from exact_online_sdk.emulator import EmulatorConfig, run_emulator


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--select", default="ID,Timestamp,AccountCode,AmountDC,Date,Description,GLAccount,EntryNumber")
    args = p.parse_args()
    path = "financialtransaction/TransactionLines"
    cfg = EmulatorConfig(table_rows={path: args.rows}, minutely_limit=10**9, daily_limit=10**9)
    with (
        run_emulator(cfg) as emu,
        httpx.Client(
            headers={"Authorization": f"Bearer {emu.token()}", "Accept": "application/json"}, timeout=60
        ) as client,
    ):
        url: str | None = f"{emu.base_url}/api/v1/1001/sync/Financial/TransactionLines"
        params: dict[str, str] | None = {"$filter": "Timestamp gt 1L", "$select": args.select}
        pages = rows = size = 0
        started = time.perf_counter()
        while url:
            resp = client.get(url, params=params)
            resp.raise_for_status()
            params = None
            d = resp.json()["d"]
            pages += 1
            rows += len(d["results"])
            size += len(resp.content)
            url = d.get("__next")
        elapsed = time.perf_counter() - started
    print(
        f"{rows} rows in {pages} pages, {elapsed:.2f} s: {pages / elapsed:.1f} pages/s, "
        f"{rows / elapsed:,.0f} rows/s, {size / pages / 1024:.0f} KiB/page (select: {args.select})"
    )


if __name__ == "__main__":
    main()
