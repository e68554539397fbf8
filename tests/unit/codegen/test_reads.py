"""Reading through the client: a typed page is decoded once; raw pages lose ``__metadata`` at every depth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, edm
from exact_online_sdk._core import response
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import UnexpectedResponseError
from exact_online_sdk.models import AccountRow, SalesInvoiceRow

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HOST = "https://start.exactonline.nl"
ROW = '{{"__metadata":{{"uri":"u{i}"}},"ID":"{guid}","Name":"A{i}","CreditLineSales":1.10}}'
ROWS = ",".join(ROW.format(i=i, guid=GUID) for i in range(3))
PAGE = ('{"d":{"results":[' + ROWS + "]}}").encode()


def _client(body: bytes, content_type: str = "application/json") -> ExactOnlineClient:
    headers = {"content-type": content_type}
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=body, headers=headers))
    return ExactOnlineClient(access_token="t", base_url=HOST, division=1, clock=ManualClock(), transport=transport)


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls: list[int] = []
    real: Callable[..., Any] = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_typed_pages_are_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _counting(monkeypatch, edm, "loads")
    with _client(PAGE) as client:
        rows = client.api.crm.accounts.list(top=3)
    assert [r.name for r in rows] == ["A0", "A1", "A2"]
    assert all(isinstance(r, AccountRow) for r in rows)
    assert loads == []  # no dict decode next to the row decode


def test_async_typed_pages_are_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = _counting(monkeypatch, edm, "loads")

    async def main() -> list[AccountRow]:
        transport = httpx.MockTransport(
            lambda _r: httpx.Response(200, content=PAGE, headers={"content-type": "application/json"})
        )
        client = AsyncExactOnlineClient(access_token="t", base_url=HOST, division=1, transport=transport)
        async with client:
            return await client.api.crm.accounts.list(top=3)

    assert [str(r.credit_line_sales) for r in asyncio.run(main())] == ["1.10"] * 3
    assert loads == []


def test_typed_reads_keep_the_clients_errors_for_what_is_not_a_page() -> None:
    with _client(b"<feed/>", "application/atom+xml") as client, pytest.raises(UnexpectedResponseError, match="Atom"):
        client.api.crm.accounts.list()
    with _client(b'{"d":{"results":[{"ID":', "application/json") as client, pytest.raises(UnexpectedResponseError):
        client.api.crm.accounts.list()  # truncated JSON: the client's retryable error, not a decoder crash
    one = f'{{"d":{{"__metadata":{{}},"ID":"{GUID}","Name":"Solo"}}}}'.encode()
    with _client(one) as client:
        assert [r.name for r in client.api.crm.accounts.list()] == ["Solo"]  # an entity where a page was asked


def test_raw_rows_drop_metadata_at_every_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = _counting(monkeypatch, response, "strip_metadata")
    with _client(PAGE) as client:
        rows = list(client.iter_rows("crm/Accounts"))
    assert [sorted(r) for r in rows] == [["CreditLineSales", "ID", "Name"]] * 3
    assert deep == []  # one __metadata a row: removed in place
    line = '{"__metadata":{"uri":"l"},"LineNumber":1}'
    nested = (
        '{"d":{"results":[{"__metadata":{"uri":"i"},"InvoiceID":"' + GUID + '",'
        '"SalesInvoiceLines":{"results":[' + line + "]},"
        '"Documents":{"__deferred":{"uri":"j"}},"Description":"__metadata"}]}}'
    ).encode()
    with _client(nested) as client:
        (invoice,) = list(client.iter_rows("salesinvoice/SalesInvoices"))
        (typed,) = client.api.salesinvoice.sales_invoices.list()
    assert "__metadata" not in invoice
    assert invoice["SalesInvoiceLines"] == {"results": [{"LineNumber": 1}]}
    assert invoice["Documents"] == {"__deferred": {"uri": "j"}}  # links stay as they are
    assert invoice["Description"] == "__metadata"
    assert isinstance(typed, SalesInvoiceRow)
    assert typed.sales_invoice_lines is not None
    assert typed.sales_invoice_lines[0].line_number == 1
    assert typed.extras == {"Documents": {"__deferred": {"uri": "j"}}}
