"""Parity: for all 358 endpoints, the read rows hold what the pydantic models make of the same page.

Models are read the established way (``parse_page``: ``edm.loads``, then pydantic's validators), rows by the fast
decoder; every field must be equal and of the same type, money exact to the digit, unknown fields kept by both.
Pages come from the emulator over real HTTP (expanded navigation included) for every endpoint with a GET, and from a
page generated from the reference for all 358; a few hand-written pages pin the values independently of both.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from exact_online_sdk import models
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, EmulatorHandle, run_emulator
from exact_online_sdk.models import ExactModel, ExactRow, parse_page, parse_rows
from exact_online_sdk.registry import Endpoint, registry

pytestmark = pytest.mark.xdist_group("emulator-rows-parity")

ALL = list(registry())
READABLE = [ep for ep in ALL if "GET" in ep.methods]
_CONFIG = EmulatorConfig(rows=4, minutely_limit=1_000_000, daily_limit=10_000_000)
_ROWS = {
    cls.__exact_path__: cls
    for cls in (getattr(models, name) for name in models.__all__ if name.endswith("Row"))
    if isinstance(cls, type) and issubclass(cls, ExactRow) and cls.__exact_path__
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(_CONFIG) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emulator: EmulatorHandle) -> Iterator[ExactOnlineClient]:
    with ExactOnlineClient(
        access_token=emulator.token(), base_url=emulator.base_url, division=_CONFIG.current_division
    ) as c:
        yield c


def _same(row_value: Any, model_value: Any, where: str) -> None:
    """Equal, of the same type, recursively (1.25 == Decimal("1.250") in Python: not here)."""
    if isinstance(row_value, dict) and isinstance(model_value, dict):
        assert row_value.keys() == model_value.keys(), where
        for key in row_value:
            _same(row_value[key], model_value[key], f"{where}.{key}")
        return
    if isinstance(row_value, list) and isinstance(model_value, list):
        assert len(row_value) == len(model_value), where
        for i, (r, m) in enumerate(zip(row_value, model_value, strict=True)):
            _same(r, m, f"{where}[{i}]")
        return
    if isinstance(row_value, ExactRow) and isinstance(model_value, ExactModel):
        _same_entity(row_value, model_value, where)
        return
    assert type(row_value) is type(model_value), f"{where}: {row_value!r} vs {model_value!r}"
    assert row_value == model_value, where
    if isinstance(row_value, Decimal):
        assert str(row_value) == str(model_value), f"{where}: money not exact"
    if isinstance(row_value, datetime):
        assert row_value.tzinfo is None, where


def _same_entity(row: ExactRow, model: ExactModel, where: str) -> None:
    assert type(row).__exact_path__ == type(model).__exact_path__, where
    for attr in type(model).model_fields:
        if attr == "odata_metadata":
            continue
        _same(getattr(row, attr), getattr(model, attr), f"{where}.{attr}")
    _same(row.extras, model.model_extra or {}, f"{where}.extras")


def _compare(ep: Endpoint, content: bytes) -> int:
    row_cls = _ROWS[ep.path]
    rows = parse_rows(row_cls, content).rows
    expected = parse_page(row_cls.model_class(), content).rows
    assert len(rows) == len(expected)
    for i, (row, model) in enumerate(zip(rows, expected, strict=True)):
        _same_entity(row, model, f"{ep.path}[{i}]")
        assert row.to_model().model_dump() == model.model_dump()
    return len(rows)


def _with_extra(content: bytes) -> bytes:
    """The page with a field the reference does not know added to its first row."""
    return content.replace(b'"__metadata":', b'"NewField":{"Amount":1.250,"Text":"t"},"__metadata":', 1)


def test_every_endpoint_has_a_row_class() -> None:
    assert len(_ROWS) == len(ALL) == 358


@pytest.mark.parametrize("ep", READABLE, ids=[ep.path for ep in READABLE])
def test_rows_match_models_on_an_emulator_page(ep: Endpoint, client: ExactOnlineClient) -> None:
    from exact_online_sdk.api import endpoints

    api = next(
        getattr(endpoints, n)
        for n in endpoints.__all__
        if not n.startswith("Async") and getattr(endpoints, n).path == ep.path
    )(client)
    params: dict[str, Any] = {"$filter": "Timestamp gt 0L"} if ep.kind == "sync" else {}
    collections = [f.name for f in ep.fields if f.is_navigation and not f.edm_type.startswith("Exact.")]
    if collections and ep.kind not in ("sync", "bulk"):
        params["$expand"] = ",".join(collections)
    _make_a_row(ep.path, client)
    call = api.plan_list(params=params, top=None if ep.kind == "sync" else 4)
    content = client.request("GET", call.path, params=call.params).content
    assert _compare(ep, content) > 0, "the emulator serves rows for every endpoint"
    if b'"__metadata":' in content:
        extra = parse_rows(_ROWS[ep.path], _with_extra(content)).rows[0]
        _same(extra.extras, {"NewField": {"Amount": Decimal("1.250"), "Text": "t"}}, "extras")
        _compare(ep, _with_extra(content))


MONEY = ("1.10", "-0.50", "12345678901234567.89", "9007199254740993.25")


def _make_a_row(path: str, client: ExactOnlineClient) -> None:
    """The two collections the emulator starts empty get a row through the API first."""
    if path == "sync/Deleted":
        (victim,) = client.get("crm/Accounts", {"$top": 1, "$select": "ID"})
        client.delete(f"crm/Accounts(guid'{victim['ID']}')")
    elif path == "webhooks/WebhookSubscriptions":
        client.post(path, {"CallbackURL": "https://example.com/hooks/exact", "Topic": "Accounts"})


def _wire_value(edm_type: str, rnd: random.Random, odd: bool) -> Any:
    if edm_type == "Edm.String":
        return f"text {rnd.randint(0, 10**6)}"
    if edm_type == "Edm.Guid":
        return str(uuid.UUID(int=rnd.getrandbits(128)))
    if edm_type == "Edm.DateTime":
        if not odd:  # plain values, the common case, read a page at a time
            return f"/Date({rnd.choice([rnd.randint(0, 4 * 10**12 - 1), 1704067200000])})/"
        ms = rnd.choice([rnd.randint(0, 4 * 10**12), rnd.randint(-(10**12), 2 * 10**14), 1704067200000])
        return rnd.choice([f"/Date({ms})/", f"/Date({ms}+0100)/"])
    if edm_type in ("Edm.Int16", "Edm.Int32", "Edm.Byte"):
        return rnd.randint(0, 100)
    if edm_type == "Edm.Int64":
        return str(rnd.randint(0, 2**63 - 1))
    if edm_type == "Edm.Double":
        return rnd.choice(MONEY)
    if edm_type == "Edm.Boolean":
        return rnd.random() < 0.5
    if edm_type == "Edm.Binary":
        return rnd.choice(["aGVsbG8=", "https://files/x.png"])
    return None


def _generated_page(ep: Endpoint, seed: int, *, odd: bool) -> bytes:
    """Three rows of ``ep`` with values of every kind; ``odd`` adds dates with offsets, before 1970 and far ahead."""
    rnd = random.Random(seed)
    rows = []
    for i in range(3):
        row: dict[str, Any] = {"__metadata": {"uri": f"https://start.exactonline.nl/api/v1/1/{ep.path}({i})"}}
        for f in ep.fields:
            if f.is_navigation:
                row[f.name] = {"__deferred": {"uri": f"https://start.exactonline.nl/{f.name}"}}
            elif rnd.random() < 0.8:
                row[f.name] = _wire_value(f.edm_type, rnd, odd)
            else:
                row[f.name] = None
        rows.append(row)
    text = json.dumps({"d": {"results": rows, "__next": "https://start.exactonline.nl/next"}})
    for money in MONEY:  # unquoted: JSON numbers with exactly these digits
        text = text.replace(f'"{money}"', money)
    return text.encode()


@pytest.mark.parametrize("ep", ALL, ids=[ep.path for ep in ALL])
def test_rows_match_models_on_a_generated_page(ep: Endpoint) -> None:
    for odd in (False, True):
        content = _generated_page(ep, seed=len(ep.path), odd=odd)
        assert _compare(ep, content) == 3
        _compare(ep, _with_extra(content))


TRANSACTION_LINE = (
    '{"d":{"results":[{"__metadata":{"uri":"https://start.exactonline.nl/api/v1/1/sync/Financial/TransactionLines'
    '(guid\'4f0ef0ec-f9e2-4de7-8f0e-000000000000\')","type":"Exact.Web.Api.Models.TransactionLine"},'
    '"Timestamp":"10000","Account":"de9b3816-9cb8-4ca1-8e9b-00000000028d","AmountDC":25.40,"AmountFC":-98.67,'
    '"Created":"\\/Date(1704067212345)\\/","Date":"\\/Date(1765238400000)\\/","Description":"Line 1",'
    '"Division":1001,"EntryNumber":7,"FinancialYear":2020,"ID":"4f0ef0ec-f9e2-4de7-8f0e-000000000000",'
    '"GLAccountCode":null,"Status":20,"Type":30,"Currency":"EUR","ExchangeRate":1.000000}]}}'
)


def test_a_hand_written_transaction_line_reads_as_written() -> None:
    (line,) = parse_rows(models.SyncTransactionLineRow, TRANSACTION_LINE.encode()).rows
    assert line.timestamp == 10000
    assert line.account == uuid.UUID("de9b3816-9cb8-4ca1-8e9b-00000000028d")
    assert (str(line.amount_dc), str(line.amount_fc), str(line.exchange_rate)) == ("25.40", "-98.67", "1.000000")
    assert line.created == datetime(2024, 1, 1, 0, 0, 12, 345000)
    assert line.date == datetime(2025, 12, 9)
    assert (line.description, line.division, line.entry_number, line.gl_account_code) == ("Line 1", 1001, 7, None)
    assert (line.status, line.type, line.currency) == (20, 30, "EUR")
    assert line.extras == {}
    _compare(registry()["sync/Financial/TransactionLines"], TRANSACTION_LINE.encode())


def test_a_hand_written_account_with_expanded_bank_accounts() -> None:
    page = (
        b'{"d":[{"__metadata":{"uri":"a"},"ID":"de9b3816-9cb8-4ca1-8e9b-000000000000","Name":"Acme",'
        b'"CreditLineSales":1000.00,"Blocked":false,"Created":"/Date(0)/","BankAccounts":{"results":['
        b'{"__metadata":{"uri":"b"},"ID":"00000000-0000-4000-8000-000000000001","BankAccountHolderName":"Acme BV",'
        b'"Main":true,"Created":"/Date(86400000)/"}]}}]}'
    )
    (account,) = parse_rows(models.AccountRow, page).rows
    assert (account.name, str(account.credit_line_sales), account.blocked) == ("Acme", "1000.00", False)
    assert account.created == datetime(1970, 1, 1)
    assert account.bank_accounts is not None
    (bank,) = account.bank_accounts
    assert (bank.bank_account_holder_name, bank.main, bank.created) == ("Acme BV", True, datetime(1970, 1, 2))
    _compare(registry()["crm/Accounts"], page)
