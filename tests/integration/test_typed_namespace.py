"""``client.api``: the typed endpoint namespace on both clients, over real HTTP against the emulator."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.models import Account, AccountRow


@pytest.fixture(scope="module")
def emu():
    with run_emulator(EmulatorConfig(rows=70, minutely_limit=1000)) as handle:
        yield handle


def test_blocking_namespace_returns_typed_rows(emu):
    with ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as client:
        assert client.api is client.api  # built once per client
        accounts = client.api.crm.accounts.list(top=3, select=["ID", "Name", "Created"])
        assert [a.name for a in accounts] == ["Account 1", "Account 2", "Account 3"]
        assert all(isinstance(a, AccountRow) and isinstance(a.id, UUID) for a in accounts)
        assert isinstance(accounts[0].to_model(), Account)
        assert isinstance(accounts[0].created, datetime)
        invoice = next(iter(client.api.salesinvoice.sales_invoices.iter(select=["InvoiceID", "AmountDC"])))
        assert isinstance(invoice.amount_dc, Decimal)


def test_async_namespace_matches_sync(emu):
    async def main():
        async with AsyncExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as client:
            return await client.api.crm.accounts.list(top=3, select=["ID", "Name"])

    assert [a.name for a in asyncio.run(main())] == ["Account 1", "Account 2", "Account 3"]


def test_async_typed_writes_reads_by_key_and_paging(emu):
    async def main():
        async with AsyncExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as client:
            accounts = client.api.crm.accounts
            created = await accounts.create(Account(name="Async BV", city="Breda"))
            assert created.id is not None
            await accounts.update(created.id, Account(city="Tilburg"))
            fetched = await accounts.get(created.id)
            pages = [len(page) async for page in accounts.iter_pages(select=["ID"], page_size=25)]
            await accounts.delete(created.id)
            since = [row async for row in client.api.sync.crm.accounts.iter_since(0, select=["ID", "Timestamp"])]
            return fetched, pages, since

    fetched, pages, since = asyncio.run(main())
    assert (fetched.name, fetched.city) == ("Async BV", "Tilburg")
    assert sum(pages) == 71  # 70 seeded plus the one created
    assert len(since) == 70  # after the delete
    log = [(e["method"], e["status"]) for e in emu.control.requests() if e["method"] != "GET"]
    assert log[-3:] == [("POST", 201), ("PUT", 204), ("DELETE", 204)]
