"""Issue 14 after issue 15: the bounds live inside the fast decoders, so ordinary pages never take the slow exact
readers, and the fast and exact readers agree on every number (the same value and type, or both refuse)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from exact_online_sdk import edm
from exact_online_sdk.api.endpoints import AccountsAPI
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.models import AccountRow, SyncAccountRow, _row, parse_rows

from .conftest import JSON, answering

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _realistic_account(i: int) -> str:
    # What real pages hold and the old text scan mistook for dangerous numbers: GUIDs with zero runs ("8f0e-000..."
    # reads like an exponent), /Date(ms)/ texts, Int64 timestamps as 19-digit text, money with and without a
    # fraction, .NET's short exponents, and free text with long digit runs.
    return (
        '{"__metadata":{"uri":"https://start.exactonline.nl/api/v1/1001/crm/Accounts(guid\'4f0ef0ec-f9e2-4de7-8f0e-'
        f'{i:012d}\')","type":"Exact.Web.Api.Models.Account"}},'
        f'"ID":"4f0ef0ec-f9e2-4de7-8f0e-{i:012d}","Accountant":"00000000-0000-0000-702c-714a{i:08d}",'
        f'"Timestamp":"{9_000_000_000_000_000_000 + i}","Created":"/Date(1704067200000)/",'
        f'"Modified":"/Date({1_704_067_200_000 + i * 1000})/","CreditLineSales":{i}.10,"CreditLinePurchase":{i},'
        '"DiscountSales":1E-05,"DiscountPurchase":-0.0,'
        '"Remarks":"Order 123456789012345678901234567890 (30 digits), IBAN NL91ABNA0417164300, 1e999 is text",'
        '"Name":"Account \\u00e9\\"quoted\\" 0e-000"}'
    )


REALISTIC = ('{"d":{"results":[' + ",".join(_realistic_account(i) for i in range(50)) + "]}}").encode()


@pytest.fixture
def no_slow_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a page takes the exact (standard-library) reader or the typed rows' tolerant reader."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a realistic page took the slow exact reader")

    monkeypatch.setattr(edm, "_exact_loads", refuse)
    monkeypatch.setattr(_row, "_tolerant_page", refuse)


@pytest.mark.usefixtures("no_slow_reader")
def test_a_realistic_page_takes_the_fast_typed_reader() -> None:
    rows = parse_rows(SyncAccountRow, REALISTIC).rows
    assert len(rows) == 50
    last = rows[-1]
    assert last.credit_line_sales == Decimal("49.10")
    assert str(last.credit_line_sales) == "49.10"
    assert last.credit_line_purchase == Decimal(49)
    assert isinstance(last.credit_line_purchase, Decimal)
    assert str(last.discount_sales) == "0.00001"
    assert last.timestamp == 9_000_000_000_000_000_049
    assert last.remarks is not None
    assert "123456789012345678901234567890" in last.remarks


@pytest.mark.usefixtures("no_slow_reader")
def test_a_realistic_page_takes_the_fast_untyped_reader() -> None:
    # Free text with 20 digits in a row is the one shape that still sends an untyped body to the exact reader.
    body = REALISTIC.replace(b"123456789012345678901234567890", b"1234567890123456789")
    assert not edm.needs_exact_reader(body)
    data = edm.loads(body)["d"]["results"]
    assert str(data[7]["CreditLineSales"]) == "7.10"
    assert data[7]["Timestamp"] == "9000000000000000007"


@pytest.mark.usefixtures("no_slow_reader")
def test_a_realistic_page_takes_the_fast_reader_through_the_typed_api(clock: ManualClock) -> None:
    body = REALISTIC.replace(b"Timestamp", b"Unknown19")
    client = answering(lambda request: httpx.Response(200, content=body, headers=JSON), clock=clock)
    rows = list(AccountsAPI(client).iter(top=50))
    assert len(rows) == 50
    assert rows[3].extras == {"Unknown19": "9000000000000000003"}
    assert str(rows[3].credit_line_sales) == "3.10"


# -- the fast and the exact readers agree -------------------------------------------------------------------------

NUMBERS = [
    "1.10",
    "0",
    "-0",
    "5",
    "-0.0",
    "1e5",
    "1E+5",
    "1E-05",
    "12345678901234567.89",
    "9007199254740993.25",
    "1e307",
    "1e308",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.8e308",
    "1e100000000",
    "4.9e-324",
    "1e-323",
    "1e-325",
    "0e-362",
    "0e-364",
    "0e-400",
    "0e308",
    "0e400",
    "1." + "0" * 60,
    "1." + "1" * 39,
    "1." + "1" * 40,
    "1e" + "0" * 450 + "5",
    "9" * 19,
    "-9223372036854775809",
    "18446744073709551616",
    "1" + "0" * 30,
    "1" + "0" * 308,
    "1" + "0" * 309,
    "9" * 400,
    "9" * 1000,
    "9" * 5000,
    '"1.5"',
    '" 2.50 "',
    '"NaN"',
    '"-Infinity"',
    '"1e400"',
    '"abc"',
    "true",
    "[1]",
    '{"x":1}',
    "1.0",
    '"1.0"',
    "9007199254740993.0",
    '"12"',
    '" 12 "',
    '"+12"',
    '"9223372036854775807"',
    '"9223372036854775808"',
    "-9223372036854775808",
    '"1e3"',
]


def _outcome(read: Any) -> Any:
    """What a reader makes of a body: its value with every number's type and text, or the kind of error."""
    try:
        return _shape(read())
    except edm.JSONFormatError:
        return ("error", "JSONFormatError")
    except edm.EdmValueError:
        return ("error", "EdmValueError")


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shape(inner) for inner in value]
    if isinstance(value, _row.ExactRow):
        # The reference's fields and the extras by Exact's name (the fast reader's learned class may declare more
        # extra names, from earlier pages, than this row holds).
        fields = {attr: _shape(getattr(value, attr)) for attr, _wire in _row._plain_fields(type(value))}
        return {**fields, "extras": _shape(value.extras)}
    if isinstance(value, bool | int | Decimal):
        return (type(value).__name__, str(value))
    return value


@pytest.mark.parametrize("literal", NUMBERS, ids=[n if len(n) < 30 else f"{n[:12]}..{len(n)}" for n in NUMBERS])
def test_the_fast_and_exact_untyped_readers_agree(literal: str) -> None:
    body = ('{"d":{"results":[{"Amount":' + literal + ',"List":[' + literal + "]}]}}").encode()
    assert _outcome(lambda: edm.loads(body)) == _outcome(lambda: edm._exact_loads(body))


@pytest.mark.parametrize("literal", NUMBERS, ids=[n if len(n) < 30 else f"{n[:12]}..{len(n)}" for n in NUMBERS])
def test_the_fast_and_tolerant_row_readers_agree(literal: str) -> None:
    # A Double field (CreditLineSales), an Int64 one (Timestamp: text on the wire, numbers too) and a field the
    # reference does not know (kept as an extra, untyped, nested too).
    for field in ("CreditLineSales", "Timestamp", "Unknown", "Nested"):
        value = '{"a":[' + literal + "]}" if field == "Nested" else literal
        body = ('{"d":{"results":[{"ID":"' + GUID + '","' + field + '":' + value + "}]}}").encode()
        fast = _outcome(lambda b=body: parse_rows(SyncAccountRow, b).rows)
        tolerant = _outcome(lambda b=body: _row._tolerant_page(SyncAccountRow, b).rows)
        assert fast == tolerant, field


@pytest.mark.parametrize(
    "count", ['"7"', "7", "-1", '"-1"', "1.5", "7.0", '"7.0"', '"x"', "99999999999999999999", "null"]
)
def test_the_count_reads_alike_on_both_readers(count: str) -> None:
    body = ('{"d":{"results":[{"ID":"' + GUID + '"}],"__count":' + count + "}}").encode()
    assert parse_rows(AccountRow, body).count == _row._tolerant_page(AccountRow, body).count


DATE_FIELDS = {
    "ControlledDate": "controlled_date",
    "Created": "created",
    "CustomerSince": "customer_since",
    "EndDate": "end_date",
    "EstablishedDate": "established_date",
    "Modified": "modified",
    "StartDate": "start_date",
    "StatusSince": "status_since",
}


@pytest.mark.usefixtures("no_slow_reader")
def test_every_date_field_keeps_its_own_value_through_the_page_memo() -> None:
    # Dates are converted column by column through one memo per page: texts shared between fields and rows, nulls
    # and absent fields must each land in their own field of their own row, as edm reads them one by one.
    day = 86_400_000
    entities = []
    for i in range(12):
        entity: dict[str, Any] = {"ID": f"4f0ef0ec-f9e2-4de7-8f0e-{i:012d}"}
        for n, wire in enumerate(DATE_FIELDS):
            if (i + n) % 5 == 0:
                entity[wire] = None
            elif (i + n) % 7 != 0:  # otherwise absent
                entity[wire] = f"/Date({1_704_067_200_000 + ((i * n) % 9) * day + n})/"
        entities.append(entity)
    rows = parse_rows(AccountRow, edm.dumps({"d": {"results": entities}})).rows
    for entity, row in zip(entities, rows, strict=True):
        for wire, attr in DATE_FIELDS.items():
            assert getattr(row, attr) == edm.parse_datetime(entity.get(wire)), (wire, entity.get(wire))
