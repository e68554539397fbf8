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
