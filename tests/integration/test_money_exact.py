"""Money is exact on every read path: raw rows, typed rows, models, the sync engine and the CLI's JSON lines.

The values are ones a float cannot hold (``1.10`` keeps its trailing zero, the others are beyond 2**53). The
emulator stores and renders money as floats itself (it answers ``12345678901234567.89`` as ``1.2345678901234568e+16``),
so it cannot serve them; a tiny HTTP server on 127.0.0.1 serves hand-written pages in Exact's wire format instead,
and every path goes through the real client over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from typer.testing import CliRunner

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.api.endpoints import AccountsAPI
from exact_online_sdk.cli import app
from exact_online_sdk.models import Account, parse_entity, parse_page
from exact_online_sdk.sync import MemoryCursorStore, Sync, SyncBatch

MONEY = ["1.10", "12345678901234567.89", "9007199254740993.25", "-0.10", "0.000001"]
GUIDS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(len(MONEY))]
DIVISION = 1001


def _row(i: int, path: str) -> str:
    # Written by hand (not json.dumps of floats) so the page carries exactly these digits.
    meta = f'{{"uri":"https://start.exactonline.nl/api/v1/{DIVISION}/{path}(guid\'{GUIDS[i]}\')","type":"x"}}'
    return (
        f'{{"__metadata":{meta},"ID":"{GUIDS[i]}","Name":"Money {i}","CreditLineSales":{MONEY[i]},'
        f'"CreditLinePurchase":{MONEY[-1 - i]},"Timestamp":"{100 + i}"}}'
    )


def _page(path: str, *, bare: bool = False) -> bytes:
    rows = ",".join(_row(i, path) for i in range(len(MONEY)))
    return (f'{{"d":[{rows}]}}' if bare else f'{{"d":{{"results":[{rows}]}}}}').encode()


class _Exact(BaseHTTPRequestHandler):
    """GET answers of a tiny Exact: collections, the bare-array envelope, one entity by key, current/Me."""

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        prefix = f"/api/v1/{DIVISION}/"
        if path == "/api/v1/current/Me":
            body = f'{{"d":{{"results":[{{"CurrentDivision":{DIVISION}}}]}}}}'.encode()
        elif path.startswith(prefix + "crm/Accounts("):
            body = b'{"d":' + _row(1, "crm/Accounts").encode() + b"}"
        elif path == prefix + "crm/Accounts":
            body = _page("crm/Accounts")
        elif path == prefix + "sync/CRM/Accounts":
            body = _page("sync/CRM/Accounts", bare=True)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exact)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(base_url: str) -> Iterator[ExactOnlineClient]:
    with ExactOnlineClient(base_url=base_url, access_token="t", division=DIVISION) as c:
        yield c


def _exact(values: list[Any]) -> None:
    """Each value is a Decimal with exactly the digits on the wire (``1.10`` is not ``1.1``)."""
    assert all(isinstance(v, Decimal) for v in values), [type(v).__name__ for v in values]
    assert [str(v) for v in values] == MONEY


def test_raw_rows_get_and_iter_rows(client: ExactOnlineClient) -> None:
    _exact([row["CreditLineSales"] for row in client.get("crm/Accounts")])
    _exact([row["CreditLineSales"] for row in client.iter_rows("crm/Accounts")])
    _exact([row["CreditLineSales"] for page in client.iter_pages("sync/CRM/Accounts") for row in page.rows])


def test_typed_collection_reads(client: ExactOnlineClient) -> None:
    _exact([a.credit_line_sales for a in client.api.crm.accounts.list()])
    _exact([a.credit_line_sales for a in AccountsAPI(client).iter()])
    _exact([a.credit_line_sales for page in client.api.crm.accounts.iter_pages() for a in page])
    _exact([a.credit_line_sales for a in client.api.sync.crm.accounts.iter_since(0)])
    assert [str(a.credit_line_purchase) for a in client.api.crm.accounts.list()] == MONEY[::-1]


def test_typed_single_entity_and_models(client: ExactOnlineClient) -> None:
    one = client.api.crm.accounts.get(GUIDS[1])
    assert str(one.credit_line_sales) == MONEY[1]
    page = parse_page(Account, _page("crm/Accounts"))
    _exact([a.credit_line_sales for a in page.rows])
    bare = parse_page(Account, _page("crm/Accounts", bare=True))
    _exact([a.credit_line_sales for a in bare.rows])
    entity = parse_entity(Account, b'{"d":' + _row(2, "crm/Accounts").encode() + b"}")
    assert str(entity.credit_line_sales) == MONEY[2]


def test_async_reads(base_url: str) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        async with AsyncExactOnlineClient(base_url=base_url, access_token="t", division=DIVISION) as c:
            raw = [row["CreditLineSales"] async for row in c.iter_rows("crm/Accounts")]
            typed = [a.credit_line_sales for a in await c.api.crm.accounts.list()]
            return raw, typed

    raw, typed = asyncio.run(main())
    _exact(raw)
    _exact(typed)


def test_sync_engine_batches(client: ExactOnlineClient) -> None:
    batches: list[SyncBatch] = []
    Sync(client, ["sync/CRM/Accounts"], cursor_store=MemoryCursorStore(), include_deletions=False).run(batches.append)
    _exact([row["CreditLineSales"] for batch in batches for row in batch.rows])


def test_cli_json_lines_carry_the_exact_digits(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACT_BASE_URL", base_url)
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "t")
    monkeypatch.setenv("EXACT_DIVISION", str(DIVISION))
    runner = CliRunner()
    for args in (["get", "crm/Accounts", "--json"], ["get", "crm/Accounts", "--all", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        assert [line["CreditLineSales"] for line in lines] == MONEY
