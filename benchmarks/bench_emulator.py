"""The emulator itself: pages per second it serves over loopback (1000-row sync pages), to show it is not what
limits the other figures. A plain keep-alive httpx client reads the pages one after another (reading only the bytes,
no JSON), with the rate limits lifted; the emulator runs in its own process.

For scale: the extraction benchmark at clock x60 needs 60 pages a scaled minute = 1 page per real second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import emulator, figure, main_for, repeat

BENCH = "emulator"
PATH = "sync/Financial/TransactionLines"
SELECT = "Timestamp,ID,EntryNumber,Date,GLAccount,Account,AmountDC,Description"


def run(quick: bool) -> list[dict[str, Any]]:
    import httpx

    pages = 10 if quick else 20
    times = 3 if quick else 5
    out: list[dict[str, Any]] = []
    with emulator(
        table_rows={"financialtransaction/TransactionLines": pages * 1000, "crm/Accounts": 6000},
        minutely_limit=10**9,
        daily_limit=10**9,
    ) as emu:
        headers = {"Authorization": f"Bearer {emu.token()}", "Accept": "application/json"}
        url = f"{emu.base_url}/api/v1/{emu.divisions[0]}/{PATH}"
        with httpx.Client(headers=headers, timeout=120) as http:
            for label, select in (("all fields", None), ("8 selected fields", SELECT)):
                size = [0]

                def read_all(select: str | None = select, size: list[int] = size) -> None:
                    params: dict[str, str] | None = {
                        "$filter": "Timestamp gt 1L",
                        **({"$select": select} if select else {}),
                    }
                    nxt: str | None = url
                    n = 0
                    while nxt:
                        resp = http.get(nxt, params=params)
                        resp.raise_for_status()
                        n += 1
                        size[0] = len(resp.content)
                        # The next link sits at the end of the body; find it without parsing the JSON.
                        tail = resp.content[-600:]
                        at = tail.rfind(b'"__next":"')
                        nxt = tail[at + 10 : tail.rindex(b'"')].decode() if at >= 0 else None
                        params = None
                    assert n == pages, n

                stats = repeat(read_all, times)
                runs = [pages / r for r in stats.runs]
                case = f"{PATH}, 1000-row pages, {label}"
                out.append(
                    figure(
                        BENCH,
                        case,
                        "emulator over loopback",
                        "pages/s",
                        pages / stats.median,
                        runs=runs,
                        note=f"{size[0] / 1e6:.2f} MB a page; {size[0] * pages / stats.median / 1e6:.0f} MB/s",
                    )
                )
            # Standard endpoint: 60-row pages, the unit of the extraction benchmark.
            std = f"{emu.base_url}/api/v1/{emu.divisions[0]}/crm/Accounts"

            def read_std() -> None:
                for _ in range(50):
                    http.get(std, params={"$select": "ID,Code,Name,Email,City,Country,Modified"}).raise_for_status()

            stats = repeat(read_std, times)
            out.append(
                figure(
                    BENCH,
                    "crm/Accounts, 60-row pages, 7 selected fields",
                    "emulator over loopback",
                    "pages/s",
                    50 / stats.median,
                    runs=[50 / r for r in stats.runs],
                )
            )
    return out


if __name__ == "__main__":
    main_for(run)
