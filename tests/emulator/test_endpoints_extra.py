"""Gap 4 of issue 13: endpoints real clients call that the 2022 reference lacks (``hrm/Divisions``, bulk twins),
and ``$metadata`` per service (FACTS §5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client, d, error

EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(rows=5, divisions=(7, 8), minutely_limit=10_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


def test_hrm_divisions_as_ossobv_and_picqer_call_it(client: httpx.Client) -> None:
    # ossobv/exactonline get_divisions: v1/current/Me?$select=CurrentDivision, then hrm/Divisions?$select=Code,...
    current = d(client.get("/api/v1/current/Me", params={"$select": "CurrentDivision"}))["results"][0]
    divisions = d(
        client.get(f"/api/v1/{current['CurrentDivision']}/hrm/Divisions", params={"$select": "Code,Description"})
    )
    assert [(r["Code"], r["Description"]) for r in divisions["results"]] == [
        (7, "Emulated company 7"),
        (8, "Emulated company 8"),
    ]
    one = d(client.get("/api/v1/7/hrm/Divisions(8)"))
    assert one["__metadata"]["uri"].endswith("/api/v1/7/hrm/Divisions(8)")
    assert "ChamberOfCommerceNumber" not in one  # the fields picqer's Division model lists, not system/Divisions'
    assert one["Status"] in (0, 1, 2)
    assert client.get("/api/v1/hrm/Divisions").status_code == 404  # it needs a division, like system/Divisions
    assert client.post("/api/v1/7/hrm/Divisions", json={}).status_code == 405


def test_bulk_twins_read_the_standard_rows_1000_a_page_and_need_select(client: httpx.Client) -> None:
    standard = d(client.get("/api/v1/7/logistics/SalesItemPrices", params={"$select": "ID"}))["results"]
    bulk = d(client.get("/api/v1/7/bulk/Logistics/SalesItemPrices", params={"$select": "ID"}))["results"]
    assert [r["ID"] for r in bulk] == [r["ID"] for r in standard]
    assert error(client.get("/api/v1/7/bulk/CRM/Accounts")).startswith("Please add a $select")
    assert client.post("/api/v1/7/bulk/CRM/Accounts", json={"Name": "x"}).status_code == 405


def test_metadata_document_describes_the_service(client: httpx.Client) -> None:
    resp = client.get("/api/v1/7/crm/$metadata")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "{http://schemas.microsoft.com/ado/2007/06/edmx}Edmx"
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    account = types["Account"]
    assert [k.get("Name") for k in account.iter(f"{EDM}PropertyRef")] == ["ID"]
    props = {p.get("Name"): p.get("Type") for p in account.iter(f"{EDM}Property")}
    assert props["ID"] == "Edm.Guid"
    assert props["Name"] == "Edm.String"
    assert props["Blocked"] == "Edm.Boolean"
    navs = [n.get("Name") for n in account.iter(f"{EDM}NavigationProperty")]
    assert navs == ["BankAccounts"]
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{EDM}EntitySet")}
    assert sets["Accounts"] == "Exact.Web.Api.Models.Account"
    assert sets["BankAccounts"] == "Exact.Web.Api.Models.BankAccount"
    purchase = ET.fromstring(client.get("/api/v1/7/purchaseentry/$metadata").content)
    assert {s.get("Name") for s in purchase.iter(f"{EDM}EntitySet")} == {"PurchaseEntries", "PurchaseEntryLines"}
    assert client.get("/api/v1/current/$metadata").status_code == 200  # a service without a division
    assert client.get("/api/v1/7/nope/$metadata").status_code == 404
    assert client.get("/api/v1/current/$metadata", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_service_document_lists_the_entity_sets(client: httpx.Client) -> None:
    sets = d(client.get("/api/v1/7/salesentry/"))["EntitySets"]
    assert sets == ["SalesEntries", "SalesEntryLines"]
    atom = client.get("/api/v1/7/salesentry", headers={"Accept": "application/atom+xml"})
    root = ET.fromstring(atom.content)
    hrefs = [c.get("href") for c in root.iter("{http://www.w3.org/2007/app}collection")]
    assert hrefs == ["SalesEntries", "SalesEntryLines"]
    assert client.post("/api/v1/7/salesentry/", json={}).status_code == 405
