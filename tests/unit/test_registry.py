import json
from pathlib import Path

from exact_online_sdk.registry import registry

ROOT = Path(__file__).resolve().parents[2]


def test_registry_holds_every_reference_endpoint():
    reg = registry()
    assert len(reg) == 358
    assert sum(len(e.fields) for e in reg) == 8526


def test_registry_is_generated_from_the_reference():
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import registry_gen

    source = ROOT / "tools" / "reference" / "endpoints.json"
    expected = registry_gen.compact(json.loads(source.read_text()))
    assert (ROOT / "sdk/exact_online_sdk/registry/endpoints.json").read_text() == expected


def test_paths_prefixes_and_writability():
    reg = registry()
    accounts = reg["crm/Accounts(guid'3fa85f64-5717-4562-b3fc-2c963f66afa6')"]
    assert accounts.url_path(123) == "/api/v1/123/crm/Accounts"
    assert accounts.page_size == 60
    assert reg["current/Me"].url_path(None) == "/api/v1/current/Me"
    assert reg["system/Divisions"].division_scoped
    assert reg["budget/BudgetScenarios"].url_path(7) == "/api/v1/beta/7/budget/BudgetScenarios"
    assert reg["sync/CRM/Accounts"].page_size == 1000
    assert reg.get("crm/Nope") is None
    assert reg.get("crm/Accounts/$count") is accounts
    created = accounts.field("Created")
    assert created is not None
    assert created.read_only
    lines = reg["salesinvoice/SalesInvoices"].field("SalesInvoiceLines")
    assert lines is not None
    assert lines.is_navigation


def test_value_domains_and_mandatory_flags_come_from_the_reference():
    reg = registry()
    with_values = [(e.path, f.name) for e in reg for f in e.fields if f.values]
    assert len(with_values) == 272
    assert len({path for path, _ in with_values}) == 138
    balance = reg["financial/GLAccounts"].field("BalanceSide")
    assert balance is not None
    assert balance.values == (("D", "Debit"), ("C", "Credit"))
    assert balance.codes == ("D", "C")
    status = reg["system/Divisions"].field("Status")
    assert status is not None
    assert status.codes == ("0", "1", "2")
    assert reg["financial/GLAccounts"].field("Description").values == ()  # type: ignore[union-attr]
    mandatory = [(e.path, f.name) for e in reg for f in e.fields if f.mandatory]
    assert mandatory == [("salesinvoice/SalesInvoiceLines", "GLAccount")]


def test_navigation_links_name_the_child_set_and_the_field_pointing_back():
    reg = registry()
    entries = reg["salesentry/SalesEntries"].link("SalesEntryLines")
    assert entries is not None
    assert (entries.target, entries.via) == ("salesentry/SalesEntryLines", "EntryID")
    child = reg[entries.target]
    assert child.field("EntryID") is not None
    bank = reg["crm/Accounts"].link("BankAccounts")
    assert bank is not None
    assert (bank.target, bank.via) == ("crm/BankAccounts", "Account")  # the child's field, not the parent's key name
    assert reg["sync/CRM/Accounts"].link("BankAccounts") == bank  # sync rows link through the standard entity's key
    assert reg["purchase/PurchaseInvoices"].link("PurchaseInvoiceLines").via == "InvoiceID"  # type: ignore[union-attr]
    assert reg["crm/Accounts"].link("Nope") is None
    for ep in reg:
        for link in ep.links:
            target = reg[link.target]
            assert link.via is None or target.field(link.via) is not None, (ep.path, link)
    linked = sum(1 for ep in reg for link in ep.links if link.via)
    assert (linked, sum(len(ep.links) for ep in reg)) == (46, 66)
