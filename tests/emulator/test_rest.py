from __future__ import annotations

import httpx
import pytest

from exact_online_sdk import edm
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client


def test_collection_envelope_paging_and_metadata(manual_emulator: EmulatorHandle) -> None:
    client = api_client(manual_emulator)
    first = client.get("/api/v1/1001/crm/Accounts", params={"$select": "ID,Name,Code"})
    assert first.status_code == 200
    d = edm.loads(first.content)["d"]
    assert len(d["results"]) == 60
    row = d["results"][0]
    assert set(row) == {"__metadata", "ID", "Name", "Code"}
    assert row["__metadata"]["uri"].startswith(f"{manual_emulator.base_url}/api/v1/1001/crm/Accounts(guid'")
    assert len(row["Code"]) == 18
    assert row["Code"].strip() == "1"
    assert d["__next"].startswith(f"{manual_emulator.base_url}/api/v1/1001/crm/Accounts?$select=ID,Name,Code&")
    assert "$skiptoken=guid'" in d["__next"]
    seen = [r["ID"] for r in d["results"]]
    url: str | None = d["__next"]
    while url:
        page = client.get(url).json()["d"]
        seen += [r["ID"] for r in page["results"]]
        url = page.get("__next")
    assert len(seen) == len(set(seen)) == 150
    one = client.get(f"/api/v1/1001/crm/Accounts(guid'{seen[100]}')").json()["d"]
    assert one["ID"] == seen[100]
    assert one["BankAccounts"] == {"__deferred": {"uri": one["__metadata"]["uri"] + "/BankAccounts"}}
    assert one["Created"].startswith("/Date(")


def test_sync_endpoint_pages_1000_by_timestamp_and_sees_changes(clock: ManualClock) -> None:
    with run_emulator(EmulatorConfig(clock=clock, table_rows={"crm/Accounts": 2500})) as emu:
        client = api_client(emu)
        params = {"$filter": "Timestamp gt 1L", "$select": "ID,Timestamp,Name"}
        pages = []
        url: str | None = "/api/v1/1001/sync/CRM/Accounts"
        first = True
        while url:
            resp = client.get(url, params=params if first else None)
            first = False
            pages.append(resp.json()["d"]["results"])
            url = resp.json()["d"].get("__next")
        assert [len(p) for p in pages] == [1000, 1000, 500]
        stamps = [int(r["Timestamp"]) for p in pages for r in p]
        assert stamps == sorted(stamps)
        assert all(isinstance(r["Timestamp"], str) for r in pages[0])
        high = max(stamps)
        # change one account and delete another: both show up after the stored cursor
        ids = [r["ID"] for r in pages[0]]
        assert client.put(f"/api/v1/1001/crm/Accounts(guid'{ids[5]}')", json={"Name": "Renamed"}).status_code == 204
        assert client.delete(f"/api/v1/1001/crm/Accounts(guid'{ids[6]}')").status_code == 204
        delta = client.get(
            "/api/v1/1001/sync/CRM/Accounts",
            params={"$filter": f"Timestamp gt {high}L", "$select": "ID,Name,Timestamp"},
        ).json()
        assert [(r["ID"], r["Name"]) for r in delta["d"]["results"]] == [(ids[5], "Renamed")]
        assert int(delta["d"]["results"][0]["Timestamp"]) > high
        deleted = client.get(
            "/api/v1/1001/sync/Deleted",
            params={"$filter": "Timestamp gt 1L and EntityType eq 2", "$select": "EntityKey,EntityType,Timestamp"},
        ).json()["d"]["results"]
        assert [(r["EntityKey"], r["EntityType"]) for r in deleted] == [(ids[6], 2)]
        bad = client.get("/api/v1/1001/sync/CRM/Accounts", params={"$filter": "Name eq 'x'"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"]["value"] == "Filtering on these fields is not supported: Name"


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("Name eq 'Account 7'", 1),
        ("Name ne 'Account 7'", 149),
        ("startswith(Name,'Account 1') eq true", 62),
        ("substringof('nt 14', Name)", 11),
        ("endswith(Name,'99')", 1),
        ("trim(Code) eq '25'", 1),
        ("Code eq '                25'", 1),
        ("Created ge datetime'2024-01-01T01:00:00' and Created lt datetime'2024-01-01T02:00:00'", 60),
        ("not (Name eq 'Account 7') and Name eq 'Account 8'", 1),
        ("Name eq 'Account 7' or Name eq 'Account 9'", 2),
        ("Name eq 'O''Brien'", 0),
    ],
)
def test_filters(manual_emulator: EmulatorHandle, flt: str, expected: int) -> None:
    resp = api_client(manual_emulator).get(
        "/api/v1/1001/crm/Accounts", params={"$filter": flt, "$inlinecount": "allpages", "$select": "ID"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["d"]["__count"] == str(expected)


def test_filter_errors_and_query_rules() -> None:
    cfg = EmulatorConfig(mandatory_filtering=True, require_select=frozenset({"logistics/Items"}))
    with run_emulator(cfg) as emu:
        client = api_client(emu)

        def message(path: str, **params: str) -> str:
            resp = client.get(path, params=params)
            assert resp.status_code == 400, resp.text
            return str(resp.json()["error"]["message"]["value"])

        assert message("/api/v1/1001/crm/Accounts", **{"$filter": "CreditLineSales ne DiscountSales"}) == (
            "This $filter parameter is not supported for this resource"
        )
        assert message("/api/v1/1001/crm/Accounts", **{"$filter": ""}).startswith("This $filter parameter")
        assert message("/api/v1/1001/crm/Accounts", **{"$filter": "Nope eq 1"}) == (
            "Filtering on these fields is not supported: Nope"
        )
        assert message("/api/v1/1001/crm/Accounts").startswith(
            "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
            "parameter with one of the following fields in the url:"
        )
        assert (
            message("/api/v1/1001/logistics/Items", **{"$filter": "ID ne guid'00000000-0000-0000-0000-000000000000'"})
            == "Please add a $select or a $top=1 statement to the query string."
        )
        assert message("/api/v1/1001/bulk/Cashflow/Receivables").startswith("Please add a $select")
        ok = client.get(
            "/api/v1/1001/crm/Accounts",
            params={"$filter": "ID ne guid'00000000-0000-0000-0000-000000000000'", "$top": "2"},
        )
        assert ok.status_code == 200
        assert len(ok.json()["d"]) == 2


def test_count_top_orderby_keys_and_paths(manual_emulator: EmulatorHandle) -> None:
    client = api_client(manual_emulator)
    count = client.get("/api/v1/1001/crm/Accounts/$count")
    assert count.status_code == 200
    assert count.text == "150"
    top = client.get(
        "/api/v1/1001/crm/Accounts", params={"$top": "5", "$select": "Name", "$orderby": "Name desc"}
    ).json()["d"]
    assert [r["Name"] for r in top] == sorted((f"Account {i}" for i in range(1, 151)), reverse=True)[:5]
    div = client.get("/api/v1/1001/system/Divisions(1002)").json()["d"]
    assert div["Code"] == 1002
    assert client.get("/api/v1/1001/hrm/CostCenters").status_code == 404  # paths are case-sensitive
    assert client.get("/api/v1/1001/hrm/Costcenters").status_code == 200
    assert client.get("/api/v1/1001/current/Me").status_code == 404  # no division on current/Me
    assert client.get("/api/v1/system/Divisions").status_code == 404  # ...but Divisions needs one
    assert client.delete("/api/v1/1001/system/Divisions(1001)").status_code == 405
    assert client.get("/api/v1/9999/crm/Accounts").headers["Reason"] == "NoDivisionAccess"
    assert client.get("/api/v1/1001/crm/Accounts(guid'00000000-0000-0000-0000-000000000000')").status_code == 404


def test_writes(manual_emulator: EmulatorHandle) -> None:
    client = api_client(manual_emulator)
    created = client.post(
        "/api/v1/1001/crm/Accounts",
        json={"Name": "New BV", "CreditLineSales": 1234.56},
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201
    d = edm.loads(created.content)["d"]
    assert d["Name"] == "New BV"
    assert str(d["CreditLineSales"]) == "1234.56"
    assert d["Division"] == 1001
    assert d["Created"].startswith("/Date(")
    key = d["ID"]
    sparse = client.post("/api/v1/1001/crm/Accounts", json={"Name": "Sparse"}).json()["d"]
    assert sparse["Name"] == "Sparse"
    assert sparse["Division"] is None
    assert sparse["ID"]
    put = client.put(f"/api/v1/1001/crm/Accounts(guid'{key}')", json={"City": "Delft"})
    assert put.status_code == 204
    assert put.content == b""
    assert "X-RateLimit-Remaining" in put.headers
    got = client.get(f"/api/v1/1001/crm/Accounts(guid'{key}')").json()["d"]
    assert (got["City"], got["Name"]) == ("Delft", "New BV")
    ro = client.put(f"/api/v1/1001/crm/Accounts(guid'{key}')", json={"Created": "2024-01-01T00:00:00"})
    assert ro.status_code == 204  # read-only properties are ignored silently, as Exact does
    assert client.get(f"/api/v1/1001/crm/Accounts(guid'{key}')").json()["d"]["Created"] == d["Created"]
    unknown = client.post("/api/v1/1001/crm/Accounts", json={"Nom": "x"})
    assert unknown.status_code == 400
    assert "'Nom'" in unknown.json()["error"]["message"]["value"]
    typed = client.post("/api/v1/1001/crm/Accounts", json={"Name": "x", "CreditLineSales": "lots"})
    assert typed.status_code == 400
    assert client.delete(f"/api/v1/1001/crm/Accounts(guid'{key}')").status_code == 204
    assert client.get(f"/api/v1/1001/crm/Accounts(guid'{key}')").status_code == 404


def test_atom_without_accept_json(manual_emulator: EmulatorHandle) -> None:
    resp = httpx.get(
        f"{manual_emulator.base_url}/api/v1/1001/crm/Accounts",
        params={"$top": "1", "$select": "ID,Name"},
        headers={"Authorization": f"Bearer {manual_emulator.token()}"},
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/atom+xml")
    assert '<m:properties><d:ID m:type="Edm.Guid">' in resp.text
    assert "<d:Name>Account 1</d:Name>" in resp.text


def test_expand_returns_consistent_children(manual_emulator: EmulatorHandle) -> None:
    client = api_client(manual_emulator)
    inv = client.get(
        "/api/v1/1001/salesinvoice/SalesInvoices",
        params={"$top": "1", "$select": "InvoiceID,OrderedBy,SalesInvoiceLines", "$expand": "SalesInvoiceLines"},
    ).json()["d"][0]
    lines = inv["SalesInvoiceLines"]["results"]
    assert len(lines) == 3
    assert {line["InvoiceID"] for line in lines} == {inv["InvoiceID"]}
    account = client.get(f"/api/v1/1001/crm/Accounts(guid'{inv['OrderedBy']}')")
    assert account.status_code == 200  # references point at real rows
