"""Gaps 5 and 6 of issue 13: seed values inside the documented domains, writes validated against them, POST-mandatory
fields, and Exact's type leniency (FACTS §3.4, §3.5): a number for text is stored as text, ``"false"`` is a
boolean, read-only properties are ignored, computed fields are filled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, create_app, run_emulator
from exact_online_sdk.emulator.catalog import catalog
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client, d, error

REPR = {"Prefer": "return=representation"}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(rows=20, minutely_limit=10_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


def test_every_seed_value_of_a_documented_domain_is_a_documented_code() -> None:
    """All endpoints with value domains (138 in the reference), every seed row, every domain field."""
    app = create_app(EmulatorConfig(rows=12, minutely_limit=1_000_000, daily_limit=1_000_000))
    token = app.state.control.issue_token()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    checked: list[str] = []

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as c:
            for ep in catalog():
                domains = {f.name: f.codes for f in ep.fields if f.values}
                if not domains or "GET" not in ep.methods:
                    continue
                params = {"$select": ",".join(domains)}
                if ep.kind == "sync":
                    params["$filter"] = "Timestamp gt 0L"
                resp = await c.get(ep.url_path(1001), params=params)
                assert resp.status_code == 200, (ep.path, resp.text)
                for row in resp.json()["d"]["results"]:
                    for name, codes in domains.items():
                        assert row[name] is None or str(row[name]) in codes, (ep.path, name, row[name], codes)
                checked.append(ep.path)

    asyncio.run(run())
    assert len(checked) >= 138


def test_the_issues_examples_are_inside_their_domains(client: httpx.Client) -> None:
    gl = d(client.get("/api/v1/1001/financial/GLAccounts", params={"$select": "BalanceSide,Type"}))["results"]
    assert {r["BalanceSide"] for r in gl} <= {"D", "C"}
    div = d(client.get("/api/v1/1001/system/Divisions", params={"$select": "Status,BlockingStatus"}))["results"]
    assert {(r["Status"], r["BlockingStatus"]) for r in div} == {(1, 0)}  # active, not blocked
    lines = d(client.get("/api/v1/1001/financialtransaction/TransactionLines", params={"$select": "Type,Status"}))
    assert {r["Status"] for r in lines["results"]} <= {20, 50}
    entries = d(client.get("/api/v1/1001/salesentry/SalesEntries", params={"$select": "Status,StatusDescription"}))
    labels = {20: "Open", 50: "Processed"}
    assert all(labels[r["Status"]] == r["StatusDescription"] for r in entries["results"])


def test_writes_are_checked_against_the_domain(client: httpx.Client) -> None:
    bad = client.post(
        "/api/v1/1001/financial/GLAccounts", json={"Code": "8000", "Description": "x", "BalanceSide": "X"}
    )
    assert error(bad) == "Invalid value 'X' for property 'BalanceSide'. Valid values: D, C."
    ok = client.post(
        "/api/v1/1001/financial/GLAccounts", json={"Code": "8001", "Description": "x", "BalanceSide": "C", "Type": 110}
    )
    assert d(ok)["BalanceSide"] == "C"
    assert "Valid values" in error(client.put(f"{d(ok)['__metadata']['uri']}", json={"Type": 999}))


def test_domain_checks_can_be_switched_off() -> None:
    with run_emulator(EmulatorConfig(rows=1, validate_values=False)) as emu, api_client(emu) as client:
        ok = client.post(
            "/api/v1/1001/financial/GLAccounts", json={"Code": "1", "Description": "x", "BalanceSide": "X"}
        )
        assert ok.status_code == 201


def test_empty_post_is_refused_for_mandatory_fields(client: httpx.Client) -> None:
    assert error(client.post("/api/v1/1001/crm/Accounts", json={})) == "Mandatory: Name"
    assert error(client.post("/api/v1/1001/crm/Accounts", json={"Name": "  "})) == "Mandatory: Name"
    assert error(client.post("/api/v1/1001/crm/BankAccounts", json={"BankAccount": "NL01"})) == "Mandatory: Account"
    # the reference's own flag: SalesInvoiceLines.GLAccount
    account = d(client.get("/api/v1/1001/crm/Accounts", params={"$top": "1", "$select": "ID"}))[0]["ID"]
    item = d(client.get("/api/v1/1001/logistics/Items", params={"$top": "1", "$select": "ID"}))[0]["ID"]
    line_without_gl = {"OrderedBy": account, "SalesInvoiceLines": [{"Item": item}]}
    assert error(client.post("/api/v1/1001/salesinvoice/SalesInvoices", json=line_without_gl)) == "Mandatory: GLAccount"


def test_documented_level_drops_the_guesses_and_off_drops_all() -> None:
    with run_emulator(EmulatorConfig(rows=1, mandatory_fields="documented")) as emu, api_client(emu) as client:
        assert client.post("/api/v1/1001/salesentry/SalesEntries", json={}).status_code == 201  # [U] ones off
        assert error(client.post("/api/v1/1001/crm/Accounts", json={})) == "Mandatory: Name"  # documented stays
    with run_emulator(EmulatorConfig(rows=1, mandatory_fields="off")) as emu, api_client(emu) as client:
        assert client.post("/api/v1/1001/crm/Accounts", json={}).status_code == 201


def test_type_leniency_as_exacts(client: httpx.Client) -> None:
    created = d(
        client.post(
            "/api/v1/1001/crm/Accounts",
            json={"Name": "Lenient", "PaymentConditionSales": 15, "Blocked": "false", "IsSupplier": True, "IsSales": 1},
            headers=REPR,
        )
    )
    assert created["PaymentConditionSales"] == "15"  # ossobv sends a number; Exact answers "15"
    assert created["Blocked"] is False  # "false" for a boolean is accepted
    assert created["IsSupplier"] is True
    assert created["IsSales"] is None  # read-only: ignored, even with a wrong type
    for bad in ({"Name": True}, {"Name": "x", "Blocked": "maybe"}, {"Name": "x", "CreditLineSales": "lots"}):
        assert "Cannot convert a value to target type" in error(client.post("/api/v1/1001/crm/Accounts", json=bad))


def test_read_only_properties_are_ignored_silently(client: httpx.Client) -> None:
    # a client that reads a record and sends it back whole (ossobv's ExactCustomer.commit())
    created = d(client.post("/api/v1/1001/crm/Accounts", json={"Name": "Round trip"}, headers=REPR))
    record = {k: v for k, v in created.items() if not isinstance(v, dict)}
    record.update(Name="Round trip 2", Created="2001-01-01T00:00:00", ID=created["ID"])
    assert client.put(created["__metadata"]["uri"], json=record).status_code == 204
    back = d(client.get(created["__metadata"]["uri"]))
    assert (back["Name"], back["Created"]) == ("Round trip 2", created["Created"])
    posted = client.post(
        "/api/v1/1001/crm/Accounts", json={"Name": "x", "Created": "2001-01-01T00:00:00"}, headers=REPR
    )
    assert d(posted)["Created"] != "/Date(978307200000)/"


def test_read_only_properties_can_be_refused() -> None:
    with run_emulator(EmulatorConfig(rows=1, readonly_fields="reject")) as emu, api_client(emu) as client:
        refused = client.post("/api/v1/1001/crm/Accounts", json={"Name": "x", "Created": "2024-01-01T00:00:00"})
        assert "Property 'Created' is read-only" in error(refused)


def test_computed_fields_are_filled(client: httpx.Client) -> None:
    account = d(client.get("/api/v1/1001/crm/Accounts", params={"$top": "1", "$select": "ID,Name"}))[0]
    contact = d(
        client.post(
            "/api/v1/1001/crm/Contacts",
            json={"Account": account["ID"], "FirstName": "Ada", "MiddleName": "King", "LastName": "Lovelace"},
        )
    )
    full = d(client.get(contact["__metadata"]["uri"], params={"$select": "FullName,AccountName,CreatorFullName"}))
    assert full["FullName"] == "Ada King Lovelace"
    assert full["AccountName"] == account["Name"]
    assert full["CreatorFullName"]
    assert client.put(contact["__metadata"]["uri"], json={"MiddleName": None}).status_code == 204
    assert d(client.get(contact["__metadata"]["uri"]))["FullName"] == "Ada Lovelace"
    new = d(client.post("/api/v1/1001/crm/Accounts", json={"Name": "Numbered"}, headers=REPR))
    assert new["Code"].strip().isdigit()  # the highest code plus one, 18 wide
    assert len(new["Code"]) == 18
