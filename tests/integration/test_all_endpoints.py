"""Reading Exact, checked against data the SDK was not generated from.

1. **Hand-written wire shapes.** Realistic Exact JSON written out in this file (both envelopes, ``__next`` paging,
   ``__metadata``, deferred and expanded navigation, unknown extra fields, nulls, ``/Date(ms)/``, Int64 as a string
   and as a number, money with many digits) served over loopback HTTP and read through the real client and typed
   API; every expected value is written by hand.
2. **Every readable endpoint** (all of the reference's GET endpoints): one page the emulator serves is decoded
   *by this test* from the reference's own Edm types (``tools/reference/endpoints.json``, read here, not the
   generated registry) with a small decoder of Exact's wire rules (FACTS 3.4) written below, and the typed row must
   give the same values field by field. The wire itself is checked against FACTS (no field the reference does not
   know, ``/Date(ms)/`` dates, Int64 as strings, GUID text, numbers for money). A planted bug in the SDK's decoding
   (dates shifted to Amsterdam time, Int64 read through a float, a field mapped to the wrong name) fails here for
   every endpoint that has such a field; it no longer passes by construction as the old ``model_extra == {}`` check
   did.
3. **Documented value domains**: values of fields whose domain the reference documents (``values``) lie in it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from exact_online_sdk.api import endpoints as api_endpoints
from exact_online_sdk.api.endpoints import (
    AccountsAPI,
    AccountsSyncAPI,
    DeletedSyncAPI,
    DivisionsAPI,
    MeAPI,
    SalesInvoicesAPI,
    TransactionLinesAPI,
)
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, EmulatorHandle, run_emulator
from exact_online_sdk.models import ExactModel, ExactRow, parse_rows
from tests.support.canned_exact import CannedExact, canned_exact

pytestmark = [pytest.mark.xdist_group("emulator-all-endpoints"), pytest.mark.timeout(120)]

REFERENCE = json.loads((Path(__file__).resolve().parents[2] / "tools/reference/endpoints.json").read_text())
READABLE = [ep for ep in REFERENCE["endpoints"] if "GET" in ep["methods"]]
DIVISION = 123456


# --- 1. hand-written wire shapes -------------------------------------------------------------------------------


@pytest.fixture
def exact() -> Iterator[CannedExact]:
    with canned_exact() as canned:
        yield canned


def client_on(canned: CannedExact) -> ExactOnlineClient:
    return ExactOnlineClient(base_url=canned.base_url, access_token="canned-token", division=DIVISION)


def meta(base: str, path: str, key: str, model: str) -> dict[str, str]:
    return {"uri": f"{base}/api/v1/{DIVISION}/{path}({key})", "type": f"Exact.Web.Api.Models.{model}"}


def test_accounts_across_two_pages_with_nulls_extras_and_deferred_navigation(exact: CannedExact) -> None:
    base, path = exact.base_url, f"/api/v1/{DIVISION}/crm/Accounts"
    first_id, second_id = "b9a1d7e2-4c5f-4a7e-9a52-0c3f7f0d9a11", "0f6c2d1a-77e3-4e0b-8d4c-5b1a2e3f4d5c"
    next_url = f"{base}{path}?$select=ID,Code&$skiptoken=guid'{first_id}'"
    page_1 = {
        "d": {
            "results": [
                {
                    "__metadata": meta(base, "crm/Accounts", f"guid'{first_id}'", "Account"),
                    "ID": first_id,
                    "Code": "                25",  # 18 characters, right-aligned: kept as Exact sends it
                    "Name": "Bakkerij De Gouden Korrel B.V.",
                    "Created": "/Date(1641034800000)/",
                    "Modified": "/Date(1704106800123)/",
                    "Email": None,
                    "Blocked": False,
                    "CreditLinePurchase": 12500.75,
                    "ConsolidationScenario": 2,
                    "Division": DIVISION,
                    "BankAccounts": {"__deferred": {"uri": f"{base}{path}(guid'{first_id}')/BankAccounts"}},
                    "CustomField_Region": "Noord",  # a field the 2022 reference does not know
                }
            ],
            "__next": next_url,
        }
    }
    page_2 = {
        "d": {
            "results": [
                {
                    "__metadata": meta(base, "crm/Accounts", f"guid'{second_id}'", "Account"),
                    "ID": second_id,
                    "Code": "                26",
                    "Name": "Café 't Hoekje",
                    "Created": "/Date(-86400000)/",  # before 1970
                    "Modified": None,
                    "Email": "info@hoekje.example",
                    "Blocked": True,
                    "CreditLinePurchase": 0,
                    "ConsolidationScenario": None,
                    "Division": DIVISION,
                    "BankAccounts": {"__deferred": {"uri": f"{base}{path}(guid'{second_id}')/BankAccounts"}},
                }
            ]
        }
    }
    exact.add(path, json.dumps(page_1))
    exact.add(path, json.dumps(page_2), skiptoken=f"guid'{first_id}'")
    with client_on(exact) as client:
        first, second = AccountsAPI(client).iter()
    assert unquote(exact.requests[1]) == next_url.removeprefix(base)  # __next followed as given
    assert first.id == uuid.UUID(first_id)
    assert first.code == "                25"
    assert first.name == "Bakkerij De Gouden Korrel B.V."
    assert first.created == datetime(2022, 1, 1, 11, 0)  # /Date(ms)/ is Exact's wall-clock time, kept naive
    assert first.modified == datetime(2024, 1, 1, 11, 0, 0, 123_000)
    assert first.email is None
    assert first.blocked is False
    assert first.credit_line_purchase == Decimal("12500.75")
    assert first.consolidation_scenario == 2
    assert first.bank_accounts is None  # deferred: not loaded
    assert first.extras == {"CustomField_Region": "Noord"}  # kept, not dropped and not an error
    assert second.created == datetime(1969, 12, 31)
    assert second.modified is None
    assert (second.name, second.blocked, second.credit_line_purchase) == ("Café 't Hoekje", True, Decimal(0))
    assert second.extras == {}


def test_next_link_is_followed_verbatim(exact: CannedExact) -> None:
    path = f"/api/v1/{DIVISION}/crm/Accounts"
    token = "guid'11111111-2222-3333-4444-555555555555'"
    exact.add(path, json.dumps({"d": {"results": [], "__next": f"{exact.base_url}{path}?$skiptoken={token}"}}))
    exact.add(path, json.dumps({"d": {"results": []}}), skiptoken=token)
    with client_on(exact) as client:
        assert list(AccountsAPI(client).iter()) == []
    assert len(exact.requests) == 2
    assert "skiptoken" in exact.requests[1]


def test_sync_timestamps_as_strings_and_numbers_beyond_float_precision(exact: CannedExact) -> None:
    path = f"/api/v1/{DIVISION}/sync/CRM/Accounts"
    exact.add(
        path,
        """{"d":{"results":[
        {"__metadata":{"uri":"x","type":"Exact.Web.Api.Models.CRM.Account"},
         "Timestamp":"9007199254740993","ID":"5d0a4c7e-1b2f-4e3a-9c8d-7f6e5d4c3b2a","Name":"A"},
        {"__metadata":{"uri":"x","type":"Exact.Web.Api.Models.CRM.Account"},
         "Timestamp":9007199254740995,"ID":"6e1b5d8f-2c3a-4f4b-8d9e-8a7f6e5d4c3b","Name":"B"}]}}""",
    )
    with client_on(exact) as client:
        rows = list(AccountsSyncAPI(client).iter_since(9007199254740000))
    # 2**53 + 1 and + 3: a float would turn them into 2**53 and 2**53 + 4
    assert [r.timestamp for r in rows] == [9007199254740993, 9007199254740995]
    assert "Timestamp gt 9007199254740000L" in exact.requests[0].replace("%20", " ").replace("+", " ")


def test_bare_array_envelope_with_expanded_lines(exact: CannedExact) -> None:
    base, path = exact.base_url, f"/api/v1/{DIVISION}/salesinvoice/SalesInvoices"
    invoice_id, line_id = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e1b", "c1e3a5b7-9d2f-4b6a-8e0c-4f6a8c0e2d1b"
    exact.add(
        path,
        json.dumps(
            {
                "d": [  # the bare-array form Exact uses with $top
                    {
                        "__metadata": meta(base, "salesinvoice/SalesInvoices", f"guid'{invoice_id}'", "SalesInvoice"),
                        "InvoiceID": invoice_id,
                        "InvoiceNumber": 24000017,
                        "InvoiceDate": "/Date(1717200000000)/",
                        "AmountDC": 1452.0,
                        "Status": 50,
                        "StatusDescription": "Processed",
                        "SalesInvoiceLines": {
                            "results": [
                                {
                                    "__metadata": meta(
                                        base, "salesinvoice/SalesInvoiceLines", f"guid'{line_id}'", "SalesInvoiceLine"
                                    ),
                                    "ID": line_id,
                                    "InvoiceID": invoice_id,
                                    "LineNumber": 1,
                                    "Quantity": 3,
                                    "UnitPrice": 400.0,
                                    "VATPercentage": 0.21,
                                    "AmountDC": 1200.0,
                                    "Description": "Taart (groot)",
                                    "Notes": None,
                                }
                            ]
                        },
                    }
                ]
            }
        ),
    )
    with client_on(exact) as client:
        [invoice] = SalesInvoicesAPI(client).list(top=1, expand=["SalesInvoiceLines"])
    assert invoice.invoice_id == uuid.UUID(invoice_id)
    assert invoice.invoice_number == 24000017
    assert invoice.invoice_date == datetime(2024, 6, 1)
    assert invoice.amount_dc == Decimal("1452.0")
    assert invoice.status == 50
    [line] = invoice.sales_invoice_lines
    assert type(line).__name__ == "SalesInvoiceLineRow"
    assert line.id == uuid.UUID(line_id)
    assert (line.line_number, line.quantity, line.unit_price) == (1, Decimal(3), Decimal("400.0"))
    assert line.vat_percentage == Decimal("0.21")  # not 0.2099999999999999922284388276239042170345783233642578125
    assert line.notes is None


def test_current_me_and_divisions_with_int64_and_binary(exact: CannedExact) -> None:
    base = exact.base_url
    user = "7b9d1f3a-5c7e-4a9b-8d1f-3a5c7e9b1d2f"
    exact.add(
        "/api/v1/current/Me",
        json.dumps(
            {
                "d": {
                    "results": [
                        {
                            "__metadata": meta(base, "current/Me", f"guid'{user}'", "Current.Me"),
                            "UserID": user,
                            "CurrentDivision": DIVISION,
                            "FullName": "Jan de Vries",
                            "Gender": "M",
                            "Legislation": "1",
                            "ServerUtcOffset": 1.0,
                            "ThumbnailPicture": None,
                            "IsClientUser": False,
                        }
                    ]
                }
            }
        ),
    )
    exact.add(
        f"/api/v1/{DIVISION}/system/Divisions",
        json.dumps(
            {
                "d": {
                    "results": [
                        {
                            "__metadata": meta(base, "system/Divisions", str(DIVISION), "System.Division"),
                            "Code": DIVISION,
                            "Description": "Demo BV",
                            "Hid": "987654321987654321",
                            "ShareCapital": 18000.0,
                            "Status": 1,
                            "Class_01": None,
                            "StartDate": "/Date(1577836800000)/",
                        }
                    ]
                }
            }
        ),
    )
    with ExactOnlineClient(base_url=base, access_token="canned-token") as plain, client_on(exact) as client:
        [me] = MeAPI(plain).list()
        [division] = DivisionsAPI(client).list()
    assert me.user_id == uuid.UUID(user)
    assert (me.current_division, me.legislation, me.server_utc_offset) == (DIVISION, 1, Decimal("1.0"))
    assert (me.gender, me.thumbnail_picture, me.is_client_user) == ("M", None, False)
    assert division.code == DIVISION
    assert division.hid == 987654321987654321
    assert division.share_capital == Decimal(18000)
    assert division.start_date == datetime(2020, 1, 1)


def test_deletions_carry_their_entity_type(exact: CannedExact) -> None:
    key = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    exact.add(
        f"/api/v1/{DIVISION}/sync/Deleted",
        json.dumps(
            {
                "d": {
                    "results": [
                        {
                            "__metadata": {"uri": "x", "type": "Exact.Web.Api.Models.Sync.Deleted"},
                            "Timestamp": "1234567890123",
                            "DeletedBy": None,
                            "DeletedDate": "/Date(1735732800000)/",
                            "Division": DIVISION,
                            "EntityKey": key,
                            "EntityType": 1,
                            "ID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                        }
                    ]
                }
            }
        ),
    )
    with client_on(exact) as client:
        [row] = DeletedSyncAPI(client).iter_since(0)
    assert row.timestamp == 1234567890123
    assert row.entity_key == uuid.UUID(key)
    assert int(row.entity_type) == 1  # "Transaction lines" in the reference's domain
    assert row.deleted_date == datetime(2025, 1, 1, 12, 0)
    assert row.deleted_by is None


def test_money_keeps_every_digit(exact: CannedExact) -> None:
    exact.add(
        f"/api/v1/{DIVISION}/financialtransaction/TransactionLines",
        """{"d":{"results":[{"__metadata":{"uri":"x","type":"Exact.Web.Api.Models.Financial.TransactionLine"},
        "ID":"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f","AmountDC":12345678901234567.89,
        "AmountFC":9007199254740993.25,"ExchangeRate":1.10,"Quantity":-0.000000000000000001}]}}""",
    )
    with client_on(exact) as client:
        [line] = TransactionLinesAPI(client).iter()
    assert line.amount_dc == Decimal("12345678901234567.89")
    assert line.amount_fc == Decimal("9007199254740993.25")
    assert str(line.exchange_rate) == "1.10"  # the digits as sent, trailing zero included
    assert line.quantity == Decimal("-1E-18")


# --- 2. every readable endpoint, decoded independently -----------------------------------------------------------

_CONFIG = EmulatorConfig(rows=4, minutely_limit=1_000_000, daily_limit=10_000_000)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE = re.compile(r"^/Date\((-?\d+)\)/$")
_EPOCH = datetime(1970, 1, 1)


def decode(edm: str, value: Any) -> Any:
    """What a value on the wire means, by Exact's rules (FACTS 3.4), written apart from the SDK's edm module."""
    if value is None:
        return None
    if edm == "Edm.Guid":
        assert isinstance(value, str)
        assert _GUID.match(value), value
        return uuid.UUID(value)
    if edm == "Edm.DateTime":
        match = _DATE.match(value)
        assert match, f"not /Date(ms)/: {value!r}"
        return _EPOCH + timedelta(milliseconds=int(match.group(1)))  # wall-clock time, as written
    if edm == "Edm.Int64":
        assert isinstance(value, str), f"Int64 goes out as a JSON string: {value!r}"
        return int(value)
    if edm in {"Edm.Int32", "Edm.Int16", "Edm.Byte"}:
        assert isinstance(value, int)
        assert not isinstance(value, bool)
        return value
    if edm == "Edm.Double":
        assert isinstance(value, int | Decimal)
        assert not isinstance(value, bool)
        return Decimal(value)
    if edm == "Edm.Boolean":
        assert isinstance(value, bool)
        return value
    assert isinstance(value, str), f"{edm}: {value!r}"  # Edm.String, Edm.Binary (a URL or base64 on read)
    return value


def _api(path: str) -> Any:
    names = [n for n in api_endpoints.__all__ if not n.startswith("Async")]
    return next(getattr(api_endpoints, n) for n in names if getattr(api_endpoints, n).path == path)


def by_exact_name(row: ExactRow | ExactModel) -> dict[str, Any]:
    """A read row's (or its model's) declared fields by Exact name; extras left out: a field read as an extra was
    not read."""
    if isinstance(row, ExactModel):
        return {field.alias or name: getattr(row, name) for name, field in type(row).model_fields.items()}
    cls = type(row)
    learned = {wire for _attr, wire in cls.__exact_extras__}
    pairs = zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True)
    return {wire: getattr(row, attr) for attr, wire in pairs if wire not in learned}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    # Generous limits: this module checks reading, not pacing (the client would wait out the minute).
    with run_emulator(_CONFIG) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(emulator: EmulatorHandle) -> Iterator[ExactOnlineClient]:
    with ExactOnlineClient(
        access_token=emulator.token(), base_url=emulator.base_url, division=_CONFIG.current_division
    ) as c:
        [gone] = c.get("crm/Accounts", {"$top": 1, "$select": "ID"})
        c.delete(f"crm/Accounts(guid'{gone['ID']}')")  # so that sync/Deleted has a row to read
        # ...and webhooks/WebhookSubscriptions (the validation POST to this closed port fails quietly)
        c.post("webhooks/WebhookSubscriptions", {"CallbackURL": "http://127.0.0.1:9/exact", "Topic": "Accounts"})
        yield c


@pytest.fixture(scope="module")
def pages(client: ExactOnlineClient) -> dict[str, tuple[list[dict[str, Any]], list[ExactRow]]]:
    """Per endpoint path: the first page's rows as raw JSON (numbers as Decimal) and as the typed API's read rows;
    fetched once."""
    cache: dict[str, tuple[list[dict[str, Any]], list[ExactRow]]] = {}

    class Pages(dict[str, Any]):
        def __missing__(self, path: str) -> tuple[list[dict[str, Any]], list[ExactRow]]:
            ep = next(e for e in READABLE if e["path"] == path)
            scalar = [f["name"] for f in ep["fields"] if f["type"].startswith("Edm.")]
            params = {"$select": ",".join(scalar)}
            if ep["kind"] == "sync":
                params["$filter"] = "Timestamp gt 0L"
            page = next(client.iter_pages(path, params))
            envelope = json.loads(page.content, parse_float=Decimal)["d"]
            raw = envelope if isinstance(envelope, list) else envelope["results"]
            typed = parse_rows(_api(path).row, page.content).rows
            self[path] = (raw, typed)
            return self[path]

    return Pages(cache)


@pytest.mark.parametrize("ep", READABLE, ids=[ep["path"] for ep in READABLE])
def test_every_endpoint_reads_what_exact_sends(ep: dict[str, Any], pages: dict[str, Any]) -> None:
    types = {f["name"]: f["type"] for f in ep["fields"]}
    raw_rows, typed_rows = pages[ep["path"]]
    assert raw_rows, "the emulator serves rows for every readable endpoint"
    assert len(typed_rows) == len(raw_rows)
    for raw, row in zip(raw_rows, typed_rows, strict=True):
        unknown = set(raw) - set(types) - {"__metadata"}
        assert not unknown, f"fields the reference does not know: {unknown}"
        assert row.extras == {}, f"known fields read as extras: {row.extras}"
        typed, model = by_exact_name(row), by_exact_name(row.to_model())  # what a reader sees, what an editor sees
        for name, value in raw.items():
            edm = types.get(name, "")
            if not edm.startswith("Edm."):
                continue
            expected = decode(edm, value)
            assert name in typed, f"{name} is not a field of {type(row).__name__}"
            assert typed[name] == expected, f"{name} ({edm}): wire {value!r} read as {typed[name]!r}"
            assert model[name] == expected, f"{name} ({edm}): wire {value!r} edited as {model[name]!r}"


def test_values_lie_in_the_documented_domains(pages: dict[str, Any]) -> None:
    outside: list[str] = []
    for ep in READABLE:
        domains = {f["name"]: set(f["values"]) for f in ep["fields"] if f.get("values")}
        if not domains:
            continue
        raw_rows, _ = pages[ep["path"]]
        for raw in raw_rows:
            for name, domain in domains.items():
                value = raw.get(name)
                if value is not None and str(value) not in domain:
                    outside.append(f"{ep['path']} {name}={value!r} (documented: {sorted(domain)})")
    assert outside == []
