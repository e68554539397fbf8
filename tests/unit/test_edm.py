from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk import edm


def test_date_literal_reads_as_wall_clock_and_round_trips():
    value = edm.parse_datetime("/Date(1641034800000)/")
    assert value == datetime(2022, 1, 1, 11, 0, 0)
    assert value.tzinfo is None
    assert edm.to_wire_datetime(value) == "/Date(1641034800000)/"


def test_date_only_field_stays_on_its_day():
    assert edm.parse_datetime("/Date(1704067200000)/") == datetime(2024, 1, 1)
    assert edm.parse_datetime("/Date(1704067200000+0100)/") == datetime(2024, 1, 1)


def test_iso_and_aware_inputs_normalise_to_naive_utc_fields():
    assert edm.parse_datetime("2024-03-01T10:00:00Z") == datetime(2024, 3, 1, 10)
    assert edm.parse_datetime("2024-03-01T10:00:00+01:00") == datetime(2024, 3, 1, 9)
    assert edm.parse_datetime(date(2024, 3, 1)) == datetime(2024, 3, 1)


@pytest.mark.parametrize("bad", ["/Date(abc)/", "yesterday", 12, "/Date(99999999999999999999)/"])
def test_bad_dates_raise_a_named_error(bad):
    with pytest.raises(edm.EdmValueError, match=r"Edm\.DateTime"):
        edm.parse_datetime(bad)


def test_money_is_decimal_with_no_float_round_trip():
    data = edm.loads(b'{"AmountDC": 0.1, "Quantity": 3, "Big": 12345678901234.57}')
    assert data["AmountDC"] == Decimal("0.1")
    assert data["Big"] == Decimal("12345678901234.57")
    assert edm.parse_decimal(0.1) == Decimal("0.1")
    assert edm.dumps({"AmountDC": Decimal("0.10"), "Tiny": Decimal("1E-7")}) == b'{"AmountDC":0.10,"Tiny":0.0000001}'


def test_decimal_markers_cannot_be_forged_by_caller_text():
    body = edm.dumps({"Notes": "0.5", "Amount": Decimal("2.5")})
    assert body == b'{"Notes":"0.5","Amount":2.5}'


@pytest.mark.parametrize("bad", [float("nan"), "NaN", "Infinity", "ten", True])
def test_non_finite_or_non_numeric_money_is_refused(bad):
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Double"):
        edm.parse_decimal(bad)


def test_int64_from_string_or_number():
    assert edm.parse_int64("9007199254740993") == 9007199254740993
    assert edm.parse_int64(42) == 42
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Int64"):
        edm.parse_int64("12.5")
    with pytest.raises(edm.EdmValueError):
        edm.parse_int64(True)


def test_guid_forms():
    raw = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert edm.parse_guid(raw) == UUID(raw)
    assert edm.parse_guid(f"guid'{raw}'") == UUID(raw)
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Guid"):
        edm.parse_guid("not-a-guid")


def test_binary_and_boolean():
    assert edm.parse_binary("aGVsbG8=") == b"hello"
    assert edm.dumps({"Attachment": b"hello"}) == b'{"Attachment":"aGVsbG8="}'
    assert edm.parse_boolean("true") is True
    with pytest.raises(edm.EdmValueError):
        edm.parse_binary("***")
    with pytest.raises(edm.EdmValueError):
        edm.parse_boolean("yes")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_survives_the_wire(value):
    assert edm.loads(edm.dumps({"v": value}))["v"] == value


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_any_datetime_survives_the_wire_to_the_millisecond(value):
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    assert edm.parse_datetime(edm.to_wire_datetime(value)) == value


def test_request_body_dates_are_iso_wall_clock():
    assert edm.format_datetime(datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06T07:08:09"
    assert edm.format_datetime(datetime(2024, 5, 6, 7, 8, 9, 123456)) == "2024-05-06T07:08:09.123"
    assert edm.format_datetime(date(2024, 5, 6)) == "2024-05-06T00:00:00"
    assert edm.format_date_value(datetime(2024, 5, 6, 7, 8, 9, 999)) == "2024-05-06T07:08:09"
    assert edm.dumps({"Date": date(2024, 5, 6)}) == b'{"Date":"2024-05-06T00:00:00"}'
    assert edm.parse_datetime(None) is None


def test_integers_from_every_wire_form():
    assert edm.parse_int(Decimal("7")) == 7
    assert edm.parse_int(7.0) == 7
    assert edm.parse_int(" 12 ") == 12
    assert edm.parse_int(None) is None
    with pytest.raises(edm.EdmValueError, match="fractional"):
        edm.parse_int(Decimal("7.5"))
    with pytest.raises(edm.EdmValueError, match="fractional"):
        edm.parse_int(float("inf"))
    with pytest.raises(edm.EdmValueError):
        edm.parse_int([1])


def test_money_from_every_wire_form_and_plain_digits_out():
    assert edm.parse_decimal(5) == Decimal(5)
    assert edm.parse_decimal(" 12.30 ") == Decimal("12.30")
    assert edm.parse_decimal(None) is None
    with pytest.raises(edm.EdmValueError):
        edm.parse_decimal(object())
    assert edm.format_decimal(Decimal("-0")) == "0"
    assert edm.format_decimal(Decimal("1.5E+3")) == "1500"
    with pytest.raises(edm.EdmValueError):
        edm.format_decimal(Decimal("NaN"))


def test_other_scalars_reject_wrong_types():
    assert edm.parse_guid(None) is None
    with pytest.raises(edm.EdmValueError):
        edm.parse_guid(12)
    assert edm.parse_boolean(None) is None
    assert edm.parse_binary(b"raw") == b"raw"
    with pytest.raises(edm.EdmValueError):
        edm.parse_binary(12)


def test_values_exact_cannot_take_are_refused_before_sending():
    with pytest.raises(TypeError, match="set"):
        edm.dumps({"Tags": {"a", "b"}})


def test_loads_keeps_every_digit_and_the_standard_librarys_errors():
    import json

    data = edm.loads(
        b'{"a": 1.10, "b": 12345678901234567.89, "c": 9007199254740993.25, "n": 7,'
        b' "big": 123456789012345678901234567890}'
    )
    assert [str(data[k]) for k in "abc"] == ["1.10", "12345678901234567.89", "9007199254740993.25"]
    assert data["n"] == 7
    assert isinstance(data["n"], int)
    assert data["big"] == 123456789012345678901234567890
    assert edm.loads('{"s": "é"}') == {"s": "é"}
    nan = edm.loads(b"[NaN]")[0]  # what the fast decoder refuses, the standard library still reads
    assert nan != nan
    with pytest.raises(json.JSONDecodeError):
        edm.loads(b'{"d":{"results":[{"ID":')
    with pytest.raises(UnicodeDecodeError):
        edm.loads(b'{"a":"\xff"}')
