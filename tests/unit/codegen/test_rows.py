"""Read rows: what a page of Exact's wire format becomes (typed, exact, extras kept), and the ways it can fail."""

from __future__ import annotations

import json
import pickle
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exact_online_sdk import edm
from exact_online_sdk.models import (
    Account,
    AccountRow,
    DivisionRow,
    ExactRow,
    SalesInvoice,
    SalesInvoiceLine,
    SalesInvoiceLineRow,
    SalesInvoiceRow,
    SyncAccountRow,
    SyncDeletedRow,
    changed_fields,
    parse_row,
    parse_rows,
    write_body,
)
from exact_online_sdk.models._row import NotAPage
from exact_online_sdk.registry.deleted import DeletedEntityType

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER = "00000000-0000-4000-8000-000000000001"


def _page(*rows: str, extra: str = "") -> bytes:
    return ('{"d":{"results":[' + ",".join(rows) + "]" + extra + "}}").encode()


INVOICE = (
    '{"__metadata":{"uri":"u","type":"Exact.Web.Api.Models.SalesInvoice"},'
    f'"InvoiceID":"{GUID}","AmountDC":1.10,"AmountFC":12345678901234567.89,"AmountDiscount":9007199254740993.25,'
    '"InvoiceDate":"\\/Date(1641034800000)\\/","DueDate":"/Date(1704067200000+0100)/","InvoiceNumber":42,'
    '"SalesInvoiceLines":{"__deferred":{"uri":"https://x/SalesInvoiceLines"}},"Description":null}'
)


def test_wire_types_read_exactly_as_python_types() -> None:
    page = parse_rows(SalesInvoiceRow, _page(INVOICE, extra=',"__next":"https://n?$skiptoken=x","__count":"7"'))
    (row,) = page.rows
    assert isinstance(row, SalesInvoiceRow)
    assert row.invoice_id == UUID(GUID)
    assert [str(row.amount_dc), str(row.amount_fc), str(row.amount_discount)] == [
        "1.10",
        "12345678901234567.89",
        "9007199254740993.25",
    ]
    assert row.invoice_date == datetime(2022, 1, 1, 11, 0)  # naive wall-clock (edm's rule), escaped slashes too
    assert row.invoice_date.tzinfo is None
    assert row.due_date == datetime(2024, 1, 1)  # the offset form: still the wall-clock day
    assert row.invoice_number == 42
    assert row.sales_invoice_lines is None  # deferred: not loaded
    assert row.description is None
    assert row.odata_metadata is None
    assert row.extras == {}
    assert (page.next_url, page.count) == ("https://n?$skiptoken=x", 7)


def test_bare_array_envelope_int64_text_and_booleans() -> None:
    raw = f'{{"d":[{{"ID":"{GUID}","Timestamp":"9223372036854775807","Blocked":true,"Name":"A"}}]}}'.encode()
    page = parse_rows(SyncAccountRow, raw)
    assert (page.next_url, page.count) == (None, None)
    (row,) = page.rows
    assert (row.timestamp, row.blocked, row.name) == (9223372036854775807, True, "A")


def test_expanded_navigation_reads_as_typed_rows_in_both_forms() -> None:
    line = f'{{"__metadata":{{"uri":"l"}},"ID":"{OTHER}","AmountFC":0.10,"DeliveryDate":"/Date(0)/"}}'
    wrapped = INVOICE.replace('{"__deferred":{"uri":"https://x/SalesInvoiceLines"}}', '{"results":[' + line + "]}")
    bare = INVOICE.replace('{"__deferred":{"uri":"https://x/SalesInvoiceLines"}}', "[" + line + "]")
    for page in (_page(wrapped), _page(bare)):
        (lines,) = [r.sales_invoice_lines for r in parse_rows(SalesInvoiceRow, page).rows]
        assert lines is not None
        (first,) = lines
        assert isinstance(first, SalesInvoiceLineRow)
        assert (first.id, str(first.amount_fc), first.delivery_date) == (UUID(OTHER), "0.10", datetime(1970, 1, 1))
        assert first.odata_metadata is None


def test_single_navigation_entity_deferred_or_inline() -> None:
    deferred = '{"Code":1,"Class_01":{"__deferred":{"uri":"x"}}}'
    inline = '{"Code":2,"Class_01":{"__metadata":{"uri":"y"},"ID":"' + GUID + '","Code":"C1","Description":"One"}}'
    rows = parse_rows(DivisionRow, _page(deferred, inline)).rows
    assert rows[0].class_01 is None
    assert rows[1].class_01 is not None
    assert (rows[1].class_01.id, rows[1].class_01.code) == (UUID(GUID), "C1")
    assert type(rows[1].class_01).__name__ == "DivisionClassRow"


def test_unknown_fields_are_kept_exactly_and_the_learned_class_is_reused() -> None:
    first = parse_rows(AccountRow, _page(f'{{"ID":"{GUID}","NewField":1.50,"name":"x","Name":"A"}}')).rows[0]
    assert first.extras == {"NewField": Decimal("1.50"), "name": "x"}
    assert first.NewField == Decimal("1.50")  # type: ignore[attr-defined]
    assert first.name == "A"  # a clash with a known attribute stays in extras only
    later = parse_rows(AccountRow, _page(f'{{"ID":"{OTHER}","Name":"B"}}')).rows[0]
    assert later.extras == {}
    assert type(later) is type(first)  # the page decoded straight with the learned class
    assert isinstance(later, AccountRow)
    assert type(first).__name__ == "AccountRow"
    copy = pickle.loads(pickle.dumps(first))
    assert copy == first
    assert copy.extras == first.extras


def test_unknown_field_inside_an_expanded_line_is_kept_too() -> None:
    line = f'{{"ID":"{OTHER}","Brand":{{"New":2.5}}}}'
    page = _page(INVOICE.replace('{"__deferred":{"uri":"https://x/SalesInvoiceLines"}}', '{"results":[' + line + "]}"))
    (row,) = parse_rows(SalesInvoiceRow, page).rows
    assert row.sales_invoice_lines is not None
    assert row.sales_invoice_lines[0].extras == {"Brand": {"New": Decimal("2.5")}}
    assert str(row.amount_dc) == "1.10"


def test_a_value_of_the_wrong_type_names_the_field() -> None:
    with pytest.raises(edm.EdmValueError, match=r"AmountDC of salesinvoice/SalesInvoices") as info:
        parse_rows(SalesInvoiceRow, _page('{"AmountDC":"lots"}'))
    assert isinstance(info.value, ValueError)
    with pytest.raises(edm.EdmValueError, match=r"Edm\.DateTime.*InvoiceDate"):
        parse_rows(SalesInvoiceRow, _page('{"InvoiceDate":"yesterday"}'))


def test_tolerant_reader_accepts_what_edm_accepts() -> None:
    row = parse_rows(SalesInvoiceRow, _page(f'{{"InvoiceID":"{{{GUID}}}","AmountDC":"2.50","Status":"50"}}')).rows[0]
    assert (row.invoice_id, row.amount_dc, row.status) == (UUID(GUID), Decimal("2.50"), 50)


def test_not_json_and_not_a_page_are_told_apart() -> None:
    with pytest.raises(msgspec.DecodeError):
        parse_rows(AccountRow, b"<feed xmlns='http://www.w3.org/2005/Atom'/>")
    with pytest.raises(NotAPage):
        parse_rows(AccountRow, b'{"d":{"ID":"' + GUID.encode() + b'"}}')
    assert parse_row(AccountRow, b'{"d":{"ID":"' + GUID.encode() + b'"}}').id == UUID(GUID)


def test_binary_and_deleted_entity_types() -> None:
    raw = _page('{"ID":"' + GUID + '","Logo":"aGVsbG8="}', '{"Logo":"https://files/logo.png"}')
    assert [r.logo for r in parse_rows(AccountRow, raw).rows] == [b"hello", "https://files/logo.png"]
    deleted = parse_rows(SyncDeletedRow, _page('{"EntityType":2,"Timestamp":"5"}', '{"EntityType":20}')).rows
    assert deleted[0].entity_type is DeletedEntityType.ACCOUNTS
    assert deleted[1].entity_type == 20  # a code Exact added later


ANY_DATE = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)  # years 1 to 9999
COMMON_DATE = st.integers(min_value=0, max_value=3_999_999_999_999)  # 1970 to 2096: the page-at-once path


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_DATE, min_size=1, max_size=30) | st.lists(COMMON_DATE, min_size=1, max_size=30))
def test_dates_follow_edms_rule_exactly_on_every_path(millis: list[int]) -> None:
    rows = ",".join(f'{{"Created":"/Date({ms})/","Modified":"/Date({ms // 7})/"}}' for ms in millis)
    got = parse_rows(AccountRow, _page(rows)).rows
    assert [r.created for r in got] == [edm.parse_datetime(f"/Date({ms})/") for ms in millis]
    assert [r.modified for r in got] == [edm.parse_datetime(f"/Date({ms // 7})/") for ms in millis]


def test_rows_turn_into_models_for_editing() -> None:
    line = f'{{"ID":"{OTHER}","AmountFC":0.10}}'
    page = _page(
        INVOICE.replace('{"__deferred":{"uri":"https://x/SalesInvoiceLines"}}', '{"results":[' + line + "]}").replace(
            '"InvoiceNumber":42', '"InvoiceNumber":42,"BrandNew":"kept"'
        )
    )
    (row,) = parse_rows(SalesInvoiceRow, page).rows
    model = row.to_model()
    assert isinstance(model, SalesInvoice)
    assert (model.invoice_id, str(model.amount_dc), model.invoice_date) == (row.invoice_id, "1.10", row.invoice_date)
    assert model.model_extra == {"BrandNew": "kept"}
    assert model.sales_invoice_lines is not None
    assert isinstance(model.sales_invoice_lines[0], SalesInvoiceLine)
    assert changed_fields(model) == set()  # as read from Exact: nothing to send yet
    model.description = "Edited"
    assert write_body(model, "PUT") == {"Description": "Edited"}
    assert SalesInvoiceRow.model_class() is SalesInvoice


def test_rows_compare_hash_free_and_repr_briefly() -> None:
    a = parse_rows(AccountRow, _page(f'{{"ID":"{GUID}","Name":"A"}}')).rows[0]
    b = parse_rows(AccountRow, _page(f'{{"__metadata":{{}},"ID":"{GUID}","Name":"A"}}')).rows[0]
    assert a == b
    assert repr(a) == f"AccountRow(id=UUID('{GUID}'), name='A')"
    assert isinstance(a, ExactRow)
    assert json.loads(msgspec.json.encode(a))["Name"] == "A"  # encodes back under Exact's names
    assert Account.model_validate({"Name": "A"}).name == a.name
