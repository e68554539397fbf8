"""The generator: committed output is exactly what it produces, names are sound, methods match the reference."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from exact_online_sdk.api import endpoints
from exact_online_sdk.models import ExactModel
from exact_online_sdk.registry import registry

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools"))
codegen = importlib.import_module("codegen")


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    written = codegen.generate(tmp_path)
    pkg = ROOT / "sdk" / "exact_online_sdk"
    generated = {p.relative_to(tmp_path) for p in written}
    committed = {p.relative_to(ROOT) for d in codegen._GENERATED_DIRS for p in (pkg / d).glob("*.py")}
    assert committed <= generated, f"stale generated files: {sorted(committed - generated)}"
    for rel in sorted(generated | {Path("sdk/exact_online_sdk/registry/endpoints.json")}):
        assert (tmp_path / rel).read_text() == (ROOT / rel).read_text(), f"{rel} differs: run `make codegen`"


@pytest.mark.parametrize(
    ("exact", "attr"),
    [
        ("AccountManagerHID", "account_manager_hid"),
        ("VATCode", "vat_code"),
        ("ID", "id"),
        ("SalesOrderIDs", "sales_order_ids"),
        ("Class_01", "class_01"),
        ("GLAccountCode", "gl_account_code"),
    ],
)
def test_snake_case(exact: str, attr: str) -> None:
    assert codegen.snake(exact) == attr


def test_every_endpoint_has_a_model_and_classes_with_only_allowed_methods() -> None:
    by_path = {}
    for name in endpoints.__all__:
        cls = getattr(endpoints, name)
        by_path.setdefault(cls.path, []).append(cls)
    assert len(by_path) == len(registry()) == 358
    verbs = {"list": "GET", "create": "POST", "update": "PUT", "delete": "DELETE"}
    for ep in registry():
        sync_cls, async_cls = sorted(by_path[ep.path], key=lambda c: c.__name__.startswith("Async"))
        assert issubclass(sync_cls.model, ExactModel)
        assert sync_cls.row.__exact_path__ == ep.path
        assert sync_cls.row.model_class() is sync_cls.model
        assert sync_cls.model.__exact_path__ == ep.path
        aliases = {f.alias for f in sync_cls.model.model_fields.values()} - {"__metadata"}
        assert aliases == {f.name for f in ep.fields}
        for cls in (sync_cls, async_cls):
            for method, verb in verbs.items():
                expected = verb in ep.methods and (verb in ("GET", "POST") or bool(ep.keys))
                assert hasattr(cls, method) == expected, (cls.__name__, method)
            assert hasattr(cls, "iter_since") == (ep.kind == "sync")
            assert hasattr(cls, "get") == ("GET" in ep.methods and ep.kind not in ("sync", "bulk") and bool(ep.keys))


def test_class_names_do_not_collide_and_read_well() -> None:
    from exact_online_sdk import models

    assert models.Account.__exact_path__ == "crm/Accounts"
    assert models.SyncAccount.__exact_path__ == "sync/CRM/Accounts"
    assert models.SalesItemPrice.__exact_path__ == "logistics/SalesItemPrices"
    assert models.ReadSalesItemPrice.__exact_path__ == "read/logistics/SalesItemPrice"
    assert models.CurrentYearAfterEntry.__exact_path__ == "openingbalance/CurrentYear/AfterEntry"
    assert endpoints.ContactsAPI.path == "crm/Contacts"
    assert endpoints.BulkSalesOrderLinesAPI.path == "bulk/SalesOrder/SalesOrderLines"


def test_the_blocking_executors_are_the_async_ones_unasynced() -> None:
    source = (ROOT / "sdk" / "exact_online_sdk" / "api" / "_async.py").read_text()
    blocking = codegen.unasync(source)
    assert "async " not in blocking
    assert "await " not in blocking
    assert "class Readable(_BlockingAPI[R, M])" in blocking
    assert "yield from rows" in blocking
    assert codegen.unasync('"""doc"""\nx = AsyncReadable\n').endswith("\nx = Readable\n")
    # Word-bounded: a longer name is not half-rewritten (AsyncReadableX is not ReadableX); without a rule it fails.
    with pytest.raises(SystemExit, match="no unasync rule for 'AsyncReadableX'"):
        codegen.unasync('"""doc"""\nAsyncReadableX = 1\n')


def test_no_generated_name_mixes_async_with_exacts_sync() -> None:
    import re

    pkg = ROOT / "sdk" / "exact_online_sdk"
    names = set()
    for path in [*(pkg / "api" / "_generated").glob("*.py"), pkg / "api" / "_blocking.py", pkg / "api" / "_async.py"]:
        names |= set(re.findall(r"^\s*class (\w+)", path.read_text(), re.M))
    assert names
    assert not [n for n in names if "AsyncSync" in n or n.startswith(("Sync", "_Sync"))]
    assert "AccountsSyncAPI" in names
    assert "AsyncAccountsSyncAPI" in names
    assert "_AsyncServices_sync_crm" in names


def test_docstrings_link_the_reference_only() -> None:
    from exact_online_sdk import models

    ep = registry()["crm/Accounts"]
    assert models.Account.__doc__ == f"``crm/Accounts``: {ep.doc}"


def test_importing_the_package_loads_no_model_module() -> None:
    import subprocess

    code = (
        "import sys, exact_online_sdk\n"
        "from exact_online_sdk import ExactOnlineClient\n"
        "c = ExactOnlineClient(access_token='t', division=1)\n"
        "import exact_online_sdk.models, exact_online_sdk.api.endpoints\n"
        "print(sorted(m for m in sys.modules if '_generated.' in m or m.startswith('pydantic')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
