"""Endpoint classes over the real client (httpx.MockTransport): exact requests, typed results, sync == async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from exact_online_sdk.api import AsyncServices, Services
from exact_online_sdk.api.endpoints import (
    AccountsAPI,
    AccountsSyncAPI,
    AsyncContactsAPI,
    BulkSalesOrderLinesAPI,
    ContactsAPI,
    CurrenciesAPI,
    CurrentYearAfterEntryAPI,
    DivisionsAPI,
    MeAPI,
)
from exact_online_sdk.client import AsyncExactOnlineClient, ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.models import Account, AccountRow, Contact, ContactRow, FieldNotWritableError

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HOST = "https://start.exactonline.nl"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers like Exact and remembers every request."""

    def __init__(self, pages: list[list[dict[str, Any]]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.pages = pages or [[{"ID": GUID, "Email": "x", "__metadata": {"uri": "u"}}]]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            if "(" in request.url.path:
                return httpx.Response(200, json={"d": {"ID": GUID, "Name": "One", "Modified": "/Date(86400000)/"}})
            index = int(request.url.params.get("$skiptoken", "0"))
            d: dict[str, Any] = {"results": self.pages[index]}
            if index + 1 < len(self.pages):
                d["__next"] = str(request.url.copy_set_param("$skiptoken", str(index + 1)))
            return httpx.Response(200, json={"d": d})
        if request.method == "POST":
            sent = json.loads(request.content)
            return httpx.Response(201, json={"d": {**sent, "ID": GUID, "FullName": "Ann B"}})
        return httpx.Response(204)

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def _client(rec: Recorder) -> ExactOnlineClient:
    return ExactOnlineClient(
        access_token="tok", division=7, base_url=HOST, transport=httpx.MockTransport(rec), clock=ManualClock()
    )


def test_seed_calls() -> None:
    rec = Recorder()
    with _client(rec) as client:
        created = ContactsAPI(client).create(Contact(first_name="Ann", email="a@x.nl"))
        rows = ContactsAPI(client).list(filters={"Email": ("eq", "x")}, select=["ID", "FullName", "Email"], top=25)
    assert rec.requests[0].url.path == "/api/v1/7/crm/Contacts"
    assert rec.bodies[0] == {"Email": "a@x.nl", "FirstName": "Ann"}
    assert created.id == UUID(GUID)
    assert created.full_name == "Ann B"
    params = rec.requests[1].url.params
    assert params["$filter"] == "Email eq 'x'"
    assert params["$select"] == "ID,FullName,Email"
    assert params["$top"] == "25"
    assert [r.email for r in rows] == ["x"]


def test_iter_pages_follows_next_and_rebatches() -> None:
    pages = [[{"ID": GUID, "Name": f"n{p}{i}"} for i in range(3)] for p in range(3)]
    rec = Recorder(pages)
    with _client(rec) as client:
        batches = list(AccountsAPI(client).iter_pages(page_size=4, filters="Name ne 'z'"))
        exact_pages = list(AccountsAPI(client).iter_pages())
        capped = AccountsAPI(client).list(top=5)
    assert [len(b) for b in batches] == [4, 4, 1]
    assert [len(p) for p in exact_pages] == [3, 3, 3]
    assert [a.name for a in capped] == ["n00", "n01", "n02", "n10", "n11"]
    assert all(isinstance(a, AccountRow) for b in batches for a in b)


def test_keys_and_division_less_paths() -> None:
    rec = Recorder()
    with _client(rec) as client:
        account = AccountsAPI(client).get(UUID(GUID))
        CurrenciesAPI(client).get("EU'R")
        DivisionsAPI(client).get(12)
        CurrentYearAfterEntryAPI(client).get({"Division": 7, "GLAccount": GUID, "ReportingYear": 2024})
        MeAPI(client).list(select=["CurrentDivision"])
    paths = [r.url.path for r in rec.requests]
    assert account.name == "One"
    assert paths[0] == f"/api/v1/7/crm/Accounts(guid'{GUID}')"
    assert paths[1] == "/api/v1/7/general/Currencies('EU''R')"
    assert paths[2] == "/api/v1/7/system/Divisions(12)"
    assert paths[3] == (
        f"/api/v1/7/openingbalance/CurrentYear/AfterEntry(Division=7,GLAccount=guid'{GUID}',ReportingYear=2024)"
    )
    assert paths[4] == "/api/v1/current/Me"


def test_update_sends_only_changes_and_delete() -> None:
    rec = Recorder()
    with _client(rec) as client:
        api = AccountsAPI(client)
        account = api.get(GUID)
        account.city = "Leiden"
        account.credit_line_sales = Decimal("100.50")
        api.update(account)
        api.update(account)  # nothing changed since: no request
        api.update(GUID, Account(name="New"))
        api.delete(account)
        with pytest.raises(FieldNotWritableError):
            api.update(GUID, Account(created=account.modified))
    puts = [r for r in rec.requests if r.method == "PUT"]
    assert [r.content for r in puts] == [b'{"City":"Leiden","CreditLineSales":100.50}', b'{"Name":"New"}']
    assert all(r.url.path == f"/api/v1/7/crm/Accounts(guid'{GUID}')" for r in puts)
    assert rec.requests[-1].method == "DELETE"
    assert len(rec.requests) == 4


def test_sync_and_bulk_query_options() -> None:
    rec = Recorder([[{"Timestamp": "12", "ID": GUID}]])
    with _client(rec) as client:
        rows = list(AccountsSyncAPI(client).iter_since(10))
        BulkSalesOrderLinesAPI(client).list(filters={"OrderID": ("eq", UUID(GUID))})
    sync_params, bulk_params = rec.requests[0].url.params, rec.requests[1].url.params
    assert sync_params["$filter"] == "Timestamp gt 10L"
    assert "Timestamp" in sync_params["$select"].split(",")
    assert rows[0].timestamp == 12
    assert bulk_params["$filter"] == f"OrderID eq guid'{GUID}'"
    assert len(bulk_params["$select"].split(",")) == len(BulkSalesOrderLinesAPI.endpoint().fields)


def test_async_classes_make_the_same_requests() -> None:
    sync_rec, async_rec = Recorder(), Recorder()
    with _client(sync_rec) as client:
        s = Services(client)
        s.crm.contacts.create(Contact(first_name="Ann"))
        s.crm.contacts.list(filters={"Email": ("eq", "x")}, top=3)
        s.crm.accounts.update(GUID, Account(name="N"))
        s.crm.accounts.delete(GUID)

    async def run() -> list[Contact]:
        client = AsyncExactOnlineClient(
            access_token="tok", division=7, base_url=HOST, transport=httpx.MockTransport(async_rec), clock=ManualClock()
        )
        async with client:
            a = AsyncServices(client)
            await a.crm.contacts.create(Contact(first_name="Ann"))
            rows = await a.crm.contacts.list(filters={"Email": ("eq", "x")}, top=3)
            await a.crm.accounts.update(GUID, Account(name="N"))
            await a.crm.accounts.delete(GUID)
            assert [r async for r in AsyncContactsAPI(client).iter()] == rows
            return rows

    rows = asyncio.run(run())
    assert rows[0].email == "x"
    strip = [(r.method, str(r.url), r.content) for r in async_rec.requests[:4]]
    assert strip == [(r.method, str(r.url), r.content) for r in sync_rec.requests]


def test_wrong_client_flavour_is_a_clear_error() -> None:
    rec = Recorder()
    with _client(rec) as client, pytest.raises(TypeError, match="AsyncExactOnlineClient"):
        AsyncContactsAPI(client)  # type: ignore[arg-type]


def test_rows_are_read_views_and_edits_go_through_the_model() -> None:
    rec = Recorder([[{"ID": GUID, "Name": "Old", "City": "Delft", "Modified": "/Date(86400000)/"}]])
    with _client(rec) as client:
        api = AccountsAPI(client)
        (row,) = api.list()
        assert isinstance(row, AccountRow)
        assert row.city == "Delft"
        with pytest.raises(TypeError, match=r"read row: edit row\.to_model\(\)"):
            api.update(row)
        model = row.to_model()
        assert isinstance(model, Account)
        assert (model.id, model.name, model.modified) == (row.id, "Old", row.modified)
        model.city = "Leiden"
        api.update(model)  # only what was assigned since the read
        api.update(row, Account(name="New"))  # the row as the key
        api.delete(row)
    puts = [r for r in rec.requests if r.method == "PUT"]
    assert [r.content for r in puts] == [b'{"City":"Leiden"}', b'{"Name":"New"}']
    assert {r.url.path for r in [*puts, rec.requests[-1]]} == {f"/api/v1/7/crm/Accounts(guid'{GUID}')"}
    assert rec.requests[-1].method == "DELETE"


def test_get_and_create_give_models_ready_to_edit() -> None:
    rec = Recorder()
    with _client(rec) as client:
        assert isinstance(AccountsAPI(client).get(GUID), Account)
        assert isinstance(ContactsAPI(client).create(Contact(first_name="Ann")), Contact)
        assert AccountsAPI.model is Account
        assert ContactsAPI.row is ContactRow


def test_names_follow_the_naming_rule_and_old_names_still_import() -> None:
    from exact_online_sdk.api import endpoints

    assert not [n for n in endpoints.__all__ if n.startswith("AsyncSync") or n.startswith("Sync")]
    assert AccountsSyncAPI.path == "sync/CRM/Accounts"
    assert endpoints.AsyncAccountsSyncAPI.path == "sync/CRM/Accounts"
    with pytest.warns(DeprecationWarning, match="SyncAccountsAPI is deprecated: use AccountsSyncAPI"):
        from exact_online_sdk.api.endpoints import SyncAccountsAPI
    assert SyncAccountsAPI is AccountsSyncAPI
    with pytest.warns(DeprecationWarning, match="use AsyncAccountsSyncAPI"):
        assert endpoints.AsyncSyncAccountsAPI is endpoints.AsyncAccountsSyncAPI
