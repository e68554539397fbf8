"""Gap 1 of issue 13: linked records. Navigation URIs are served, ``$expand`` is filled from the linked rows
(with nested ``$select``), seed data is relationally consistent and a POST creates nested lines."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client, d, error

REPR = {"Prefer": "return=representation"}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig(clock=ManualClock(), rows=40, minutely_limit=10_000)) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with api_client(emu) as c:
        yield c


def first(client: httpx.Client, path: str, select: str) -> dict[str, object]:
    return d(client.get(f"/api/v1/1001/{path}", params={"$top": "1", "$select": select}))[0]


def test_deferred_link_is_served_and_holds_the_entrys_lines(client: httpx.Client) -> None:
    entry = first(client, "salesentry/SalesEntries", "EntryID,AmountDC,AmountFC,SalesEntryLines")
    link = entry["SalesEntryLines"]["__deferred"]["uri"]  # type: ignore[index]
    assert link.endswith(f"/api/v1/1001/salesentry/SalesEntries(guid'{entry['EntryID']}')/SalesEntryLines")
    lines = d(client.get(link))["results"]
    assert len(lines) == 3
    assert {line["EntryID"] for line in lines} == {entry["EntryID"]}
    assert all(line["__metadata"]["type"] == "Exact.Web.Api.Models.SalesEntryLine" for line in lines)
    # Exact computes the header's amounts from its lines
    assert entry["AmountDC"] == pytest.approx(sum(line["AmountDC"] for line in lines))
    assert entry["AmountFC"] == pytest.approx(sum(line["AmountFC"] for line in lines))
    count = client.get(f"{link}/$count")
    assert (count.status_code, count.text) == (200, "3")
    # the navigation collection is a collection like any other: $select, $filter, $orderby, $top
    two = d(client.get(link, params={"$select": "AmountFC", "$orderby": "AmountFC desc", "$top": "2"}))
    assert [set(r) for r in two] == [{"__metadata", "AmountFC"}] * 2
    assert two[0]["AmountFC"] >= two[1]["AmountFC"]


def test_every_seed_line_belongs_to_an_existing_header(client: httpx.Client) -> None:
    for header, lines, key in [
        ("salesentry/SalesEntries", "salesentry/SalesEntryLines", "EntryID"),
        ("salesinvoice/SalesInvoices", "salesinvoice/SalesInvoiceLines", "InvoiceID"),
        ("salesorder/SalesOrders", "salesorder/SalesOrderLines", "OrderID"),
        ("crm/Quotations", "crm/QuotationLines", "QuotationID"),
        ("purchaseentry/PurchaseEntries", "purchaseentry/PurchaseEntryLines", "EntryID"),
    ]:
        heads = {r[key] for r in d(client.get(f"/api/v1/1001/{header}", params={"$select": key}))["results"]}
        rows = d(client.get(f"/api/v1/1001/{lines}", params={"$select": f"ID,{key}"}))["results"]
        assert rows
        assert {r[key] for r in rows} <= heads, lines


def test_expand_fills_bank_accounts_from_crm_bank_accounts(client: httpx.Client) -> None:
    account = first(client, "crm/Accounts", "ID")
    own = d(client.get("/api/v1/1001/crm/BankAccounts", params={"$filter": f"Account eq guid'{account['ID']}'"}))
    assert own["results"], "the seed gives accounts bank accounts"
    expanded = d(
        client.get(
            f"/api/v1/1001/crm/Accounts(guid'{account['ID']}')",
            params={"$expand": "BankAccounts", "$select": "ID,BankAccounts/BankAccount,BankAccounts/Account"},
        )
    )
    banks = expanded["BankAccounts"]["results"]
    assert [b["BankAccount"] for b in banks] == [b["BankAccount"] for b in own["results"]]
    assert all(set(b) == {"__metadata", "BankAccount", "Account"} for b in banks)  # nested $select
    assert {b["Account"] for b in banks} == {account["ID"]}


def test_expand_without_select_gives_whole_children_and_deferred_grandchildren(client: httpx.Client) -> None:
    order = d(client.get("/api/v1/1001/salesorder/SalesOrders", params={"$top": "1", "$expand": "SalesOrderLines"}))[0]
    lines = order["SalesOrderLines"]["results"]
    assert len(lines) == 3
    assert "Item" in lines[0]
    assert "__deferred" in str(order) or "SalesOrderLines" in order


def test_select_through_a_navigation_needs_expand(client: httpx.Client) -> None:
    message = error(client.get("/api/v1/1001/crm/Accounts", params={"$select": "ID,BankAccounts/BankAccount"}))
    assert message == (
        "Only properties specified in $expand can be traversed in $select query options. "
        "Selected item: 'BankAccounts/BankAccount'."
    )
    assert "No property 'Nope'" in error(client.get("/api/v1/1001/crm/Accounts", params={"$expand": "Nope"}))


def test_unknown_navigation_segment_is_404(client: httpx.Client) -> None:
    account = first(client, "crm/Accounts", "ID")
    missing = client.get(f"/api/v1/1001/crm/Accounts(guid'{account['ID']}')/Nope")
    assert error(missing, 404) == "Resource not found for the segment 'Nope'."
    division = client.get("/api/v1/1001/system/Divisions(1001)/Class_01")  # a single entity no set describes
    assert division.status_code == 404
    assert client.post(f"/api/v1/1001/crm/Accounts(guid'{account['ID']}')/BankAccounts", json={}).status_code == 405


def test_post_with_lines_creates_the_lines_and_totals(emu: EmulatorHandle, client: httpx.Client) -> None:
    customer = first(client, "crm/Accounts", "ID,Name")
    gl = first(client, "financial/GLAccounts", "ID,Code")
    body = {
        "Customer": customer["ID"],
        "Journal": "70",
        "Description": "two lines",
        "SalesEntryLines": [
            {"GLAccount": gl["ID"], "AmountFC": 100, "Description": "first"},
            {"GLAccount": gl["ID"], "AmountFC": 21.5, "VATCode": "2"},
        ],
    }
    created = d(client.post("/api/v1/1001/salesentry/SalesEntries", json=body, headers=REPR))
    assert created["AmountFC"] == pytest.approx(121.5)
    assert created["AmountDC"] == pytest.approx(121.5)
    assert created["CustomerName"] == customer["Name"]  # Exact fills the names of referenced rows
    assert created["Status"] == 20  # "Open": a new entry starts at the first documented code
    assert created["SalesEntryLines"] == {"__deferred": {"uri": created["__metadata"]["uri"] + "/SalesEntryLines"}}
    lines = d(client.get(created["SalesEntryLines"]["__deferred"]["uri"], params={"$orderby": "LineNumber"}))
    rows = lines["results"]
    assert [(r["LineNumber"], r["AmountFC"], r["EntryID"]) for r in rows] == [
        (1, 100.0, created["EntryID"]),
        (2, 21.5, created["EntryID"]),
    ]
    assert rows[0]["GLAccountCode"] == gl["Code"]
    # the lines are rows of salesentry/SalesEntryLines like any other
    lookup = d(client.get(f"/api/v1/1001/salesentry/SalesEntryLines(guid'{rows[1]['ID']}')"))
    assert lookup["Description"] is None
    assert lookup["VATCode"] == "2"
    # a line added later moves the total
    gone = client.delete(f"/api/v1/1001/salesentry/SalesEntryLines(guid'{rows[0]['ID']}')")
    assert gone.status_code == 204
    header = d(client.get(created["__metadata"]["uri"], params={"$select": "AmountFC"}))
    assert header["AmountFC"] == pytest.approx(21.5)


@pytest.mark.parametrize(
    ("path", "nav", "header", "line"),
    [
        (
            "generaljournalentry/GeneralJournalEntries",
            "GeneralJournalEntryLines",
            {"JournalCode": "90"},
            {"GLAccount": "{gl}", "AmountFC": 10},
        ),
        (
            "salesinvoice/SalesInvoices",
            "SalesInvoiceLines",
            {"OrderedBy": "{acc}"},
            {"Item": "{item}", "GLAccount": "{gl}"},
        ),
        ("salesorder/SalesOrders", "SalesOrderLines", {"OrderedBy": "{acc}"}, {"Item": "{item}", "Quantity": 2}),
        ("crm/Quotations", "QuotationLines", {"OrderAccount": "{acc}"}, {"Item": "{item}"}),
        ("purchaseorder/PurchaseOrders", "PurchaseOrderLines", {"Supplier": "{acc}"}, {"Item": "{item}"}),
        (
            "purchaseentry/PurchaseEntries",
            "PurchaseEntryLines",
            {"Supplier": "{acc}", "Journal": "60"},
            {"GLAccount": "{gl}", "AmountFC": 5},
        ),
    ],
)
def test_nested_post_for_documents_with_lines(
    client: httpx.Client, path: str, nav: str, header: dict[str, object], line: dict[str, object]
) -> None:
    refs = {
        "{acc}": first(client, "crm/Accounts", "ID")["ID"],
        "{gl}": first(client, "financial/GLAccounts", "ID")["ID"],
        "{item}": first(client, "logistics/Items", "ID")["ID"],
    }

    def fill(values: dict[str, object]) -> dict[str, object]:
        return {k: refs.get(v, v) if isinstance(v, str) else v for k, v in values.items()}

    body = {**fill(header), nav: {"results": [fill(line), fill(line)]}}  # the verbose {"results": [...]} form too
    created = d(client.post(f"/api/v1/1001/{path}", json=body))
    lines = d(client.get(f"{created['__metadata']['uri']}/{nav}"))["results"]
    assert len(lines) == 2


def test_a_bad_line_stores_nothing(client: httpx.Client) -> None:
    customer = first(client, "crm/Accounts", "ID")
    before = client.get("/api/v1/1001/salesentry/SalesEntries/$count").text
    body = {"Customer": customer["ID"], "Journal": "70", "SalesEntryLines": [{"AmountFC": 1}]}
    assert error(client.post("/api/v1/1001/salesentry/SalesEntries", json=body)) == "Mandatory: GLAccount"
    not_a_list = {"Customer": customer["ID"], "Journal": "70", "SalesEntryLines": "x"}
    assert "collection of entities" in error(client.post("/api/v1/1001/salesentry/SalesEntries", json=not_a_list))
    assert client.get("/api/v1/1001/salesentry/SalesEntries/$count").text == before


def test_read_only_navigations_in_a_body_are_ignored(client: httpx.Client) -> None:
    # crm/Accounts.BankAccounts is read-only in the reference: sending it back (whole-record clients) is harmless
    created = d(client.post("/api/v1/1001/crm/Accounts", json={"Name": "With banks", "BankAccounts": [{"x": 1}]}))
    banks = d(client.get(f"{created['__metadata']['uri']}/BankAccounts"))["results"]
    assert banks == []


def test_sync_rows_link_to_the_standard_entity() -> None:
    with run_emulator(EmulatorConfig(rows=3)) as emu, api_client(emu) as client:
        row = d(client.get("/api/v1/1001/sync/CRM/Accounts", params={"$filter": "Timestamp gt 1L"}))["results"][0]
        assert row["__metadata"]["uri"].endswith(f"/api/v1/1001/crm/Accounts(guid'{row['ID']}')")
        banks = d(client.get(row["BankAccounts"]["__deferred"]["uri"]))["results"]
        assert {b["Account"] for b in banks} == {row["ID"]}


def test_deleting_a_header_deletes_its_lines(client: httpx.Client) -> None:
    invoice = first(client, "salesinvoice/SalesInvoices", "InvoiceID")
    uri = f"/api/v1/1001/salesinvoice/SalesInvoices(guid'{invoice['InvoiceID']}')"
    ids = [line["ID"] for line in d(client.get(f"{uri}/SalesInvoiceLines"))["results"]]
    assert len(ids) == 3
    assert client.delete(uri).status_code == 204
    for line in ids:
        assert client.get(f"/api/v1/1001/salesinvoice/SalesInvoiceLines(guid'{line}')").status_code == 404
    gone = d(
        client.get(
            "/api/v1/1001/sync/Deleted",
            params={"$filter": "Timestamp gt 1L and EntityType eq 13", "$select": "EntityKey,EntityType"},
        )
    )["results"]
    assert invoice["InvoiceID"] in {row["EntityKey"] for row in gone}
