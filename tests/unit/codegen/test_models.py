"""Generated models: tolerant typed reads of Exact's wire format, strict writes."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import pytest

from exact_online_sdk import edm
from exact_online_sdk.models import (
    Account,
    Contact,
    FieldNotWritableError,
    SalesInvoice,
    SalesInvoiceLine,
    SyncAccount,
    SyncDeleted,
    WebhookSubscription,
    changed_fields,
    parse_entity,
    parse_page,
    write_body,
)
from exact_online_sdk.registry.deleted import DeletedEntityType

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _page(rows: list[dict[str, object]], nxt: str | None = None) -> bytes:
    d: dict[str, object] = {"results": rows}
    if nxt:
        d["__next"] = nxt
    return json.dumps({"d": d}).encode()


def test_wire_types_parse_exactly() -> None:
    raw = (
        b'{"d":{"results":[{"__metadata":{"uri":"u","type":"Exact.Web.Api.Models.SalesInvoice"},'
        b'"InvoiceID":"' + GUID.encode() + b'","AmountDC":0.1,"AmountFC":1234567890123.45,'
        b'"InvoiceDate":"\\/Date(1641034800000)\\/","InvoiceNumber":42,"Status":50,'
        b'"SalesInvoiceLines":{"__deferred":{"uri":"https://x/SalesInvoiceLines"}},"BrandNew":"kept"}],'
        b'"__next":"https://start.exactonline.nl/api/v1/1/salesinvoice/SalesInvoices?$skiptoken=x"}}'
    )
    page = parse_page(SalesInvoice, raw)
    (row,) = page.rows
    assert row.invoice_id == UUID(GUID)
    assert row.amount_dc == Decimal("0.1")
    assert isinstance(row.amount_dc, Decimal)
    assert row.amount_fc == Decimal("1234567890123.45")
    assert row.invoice_date == datetime(2022, 1, 1, 11, 0)  # naive wall-clock (edm's rule)
    assert row.invoice_date.tzinfo is None
    assert row.sales_invoice_lines is None  # deferred: not loaded
    assert row.model_extra == {"BrandNew": "kept"}
    assert "__metadata" not in row.model_dump(by_alias=True)
    assert page.next_url is not None
    assert page.next_url.endswith("$skiptoken=x")


def test_int64_from_string_and_expanded_navigation() -> None:
    raw = _page(
        [
            {
                "Timestamp": "9223372036854775807",
                "ID": GUID,
                "BankAccounts": {"results": [{"ID": GUID, "BankAccount": "NL01", "Unknown": 1}]},
            }
        ]
    )
    (row,) = parse_page(SyncAccount, raw).rows
    assert row.timestamp == 9223372036854775807
    assert row.bank_accounts is not None
    assert row.bank_accounts[0].bank_account == "NL01"
    assert type(row.bank_accounts[0]).__name__ == "BankAccount"
    assert row.bank_accounts[0].model_extra == {"Unknown": 1}


def test_bare_array_envelope_and_count() -> None:
    page = parse_page(Contact, b'{"d":[{"ID":"' + GUID.encode() + b'"}]}')
    assert [r.id for r in page.rows] == [UUID(GUID)]
    assert page.next_url is None
    counted = parse_page(Contact, b'{"d":{"results":[],"__count":"7"}}')
    assert counted.count == 7


def test_deleted_entity_type_is_typed_and_tolerant() -> None:
    rows = parse_page(SyncDeleted, _page([{"EntityType": 2, "Timestamp": "5"}, {"EntityType": 20}])).rows
    assert rows[0].entity_type is DeletedEntityType.ACCOUNTS
    assert rows[1].entity_type == 20  # unknown code still parses


def test_bad_value_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="AmountDC"):
        parse_page(SalesInvoice, _page([{"AmountDC": "lots"}]))


def test_create_body_has_only_set_fields_by_exact_name() -> None:
    contact = Contact(first_name="Ann", email="ann@example.com", account=UUID(GUID), birth_date=datetime(1990, 5, 17))
    body = write_body(contact, "POST")
    assert body == {
        "Account": UUID(GUID),
        "BirthDate": datetime(1990, 5, 17),
        "Email": "ann@example.com",
        "FirstName": "Ann",
    }
    wire = json.loads(edm.dumps(body))
    assert wire == {
        "Account": GUID,
        "BirthDate": "1990-05-17T00:00:00",
        "Email": "ann@example.com",
        "FirstName": "Ann",
    }


def test_decimal_goes_out_exactly() -> None:
    line = SalesInvoiceLine(amount_fc=Decimal("0.10"), quantity=Decimal("3"), description="x")
    assert edm.dumps(write_body(line, "POST")) == b'{"AmountFC":0.10,"Description":"x","Quantity":3}'


def test_exact_names_accepted_as_constructor_keywords() -> None:
    assert write_body(Contact(FirstName="Ann"), "POST") == {"FirstName": "Ann"}


def test_read_only_field_refused_before_sending() -> None:
    with pytest.raises(FieldNotWritableError) as info:
        write_body(Contact(first_name="A", created=datetime(2020, 1, 1), full_name="A B"), "POST")
    assert info.value.fields == ["Created", "FullName"]
    assert "crm/Contacts" in str(info.value)


def test_post_only_field_refused_on_put() -> None:
    write_body(WebhookSubscription(callback_url="https://x", topic="Accounts"), "POST")
    assert write_body(WebhookSubscription(callback_url="https://y"), "PUT") == {"CallbackURL": "https://y"}
    post_only = [f for f in SalesInvoice.model_fields if f == "journal"]
    assert post_only  # SalesInvoice.Journal is POST-only in the reference
    with pytest.raises(FieldNotWritableError, match="Journal"):
        write_body(SalesInvoice(journal="70"), "PUT")


def test_unknown_extra_field_refused_on_write() -> None:
    with pytest.raises(FieldNotWritableError, match="Nonsense"):
        write_body(Contact(**{"Nonsense": 1}), "POST")


def test_update_sends_only_changed_fields() -> None:
    row = parse_page(Account, _page([{"ID": GUID, "Name": "Old", "City": "Delft", "Created": "/Date(0)/"}])).rows[0]
    assert changed_fields(row) == set()
    row.city = "Leiden"
    row.credit_line_sales = 1.5  # validated on assignment: float -> Decimal
    assert write_body(row, "PUT") == {"City": "Leiden", "CreditLineSales": Decimal("1.5")}


def test_nested_lines_written_with_their_own_rules() -> None:
    invoice = SalesInvoice(
        ordered_by=UUID(GUID),
        sales_invoice_lines=[SalesInvoiceLine(item=UUID(GUID), quantity=Decimal("2"))],
    )
    body = json.loads(edm.dumps(write_body(invoice, "POST")))
    assert body == {"OrderedBy": GUID, "SalesInvoiceLines": [{"Item": GUID, "Quantity": 2}]}
    with pytest.raises(FieldNotWritableError, match=r"AmountDC"):
        write_body(SalesInvoice(sales_invoice_lines=[SalesInvoiceLine(amount_dc=Decimal(1))]), "POST")


def test_parse_entity_accepts_unwrapped_and_raw() -> None:
    assert parse_entity(Contact, {"ID": GUID, "__metadata": {}}).id == UUID(GUID)
    assert parse_entity(Contact, b'{"d":{"ID":"' + GUID.encode() + b'"}}').id == UUID(GUID)
    me = parse_entity(Contact, {"results": [{"ID": GUID}]})
    assert me.id == UUID(GUID)
