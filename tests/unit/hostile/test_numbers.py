"""Issue 15.2: numbers that explode. Every JSON number is held to Exact's Edm.Double and Int64 ranges where it is
read, Int64 values to their range, and writers (format_decimal, dumps, odata.literal) refuse what Exact cannot hold,
all with typed errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exact_online_sdk import edm
from exact_online_sdk import odata as q
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ExactOnlineError, ODataError, UnexpectedResponseError
from exact_online_sdk.sync import MemoryCursorStore, Sync

from .conftest import answering

# 42 bytes on the wire; as digits, 100 MB.
BOMB = b'{"d":{"results":[{"Amount":1e100000000}]}}'


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        (b"1e100000000", "beyond Edm.Double's range"),
        (b"-1.8e308", "beyond Edm.Double's range"),
        (b"1e-400", "smallest non-zero"),
        (b"0e-100000", "exponent beyond"),
        (b"1." + b"1" * 60, "significant digits"),
        (b"9" * 5000, "longer than 400"),
        (b"NaN", "not JSON"),
        (b"-Infinity", "not JSON"),
    ],
)
def test_loads_refuses_numbers_beyond_exacts_ranges(literal: bytes, reason: str) -> None:
    with pytest.raises(edm.JSONFormatError, match=reason) as caught:
        edm.loads(b'{"Amount":' + literal + b"}")
    assert caught.value.kind == "number"
    assert isinstance(caught.value, ExactOnlineError)


def test_loads_keeps_every_number_exact_inside_the_ranges() -> None:
    data = edm.loads(
        b'{"Max":1.7976931348623157e308,"Tiny":4.9e-324,"Money":0.1,"I64":-9223372036854775808,'
        b'"Beyond64":9223372036854775808,"Big":100000000000000000000}'
    )
    assert data["Max"] == edm.DOUBLE_MAX
    assert data["Tiny"] == Decimal("4.9e-324")
    assert str(data["Money"]) == "0.1"
    assert data["I64"] == edm.INT64_MIN
    assert isinstance(data["I64"], int)
    # 19 digits read as an int (as msgspec reads them; Int64 fields are range-checked where typed); an integral
    # Edm.Double of more digits stays exact, as a Decimal
    assert data["Beyond64"] == 2**63
    assert data["Big"] == Decimal("1E+20")
    assert isinstance(data["Big"], Decimal)


@pytest.mark.parametrize(
    "value", ["9223372036854775808", "-9223372036854775809", 2**63, Decimal("1e200000"), "9" * 5000]
)
def test_int64_range_is_enforced(value: object) -> None:
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Int64"):
        edm.parse_int64(value)


def test_int64_bounds_themselves_are_accepted() -> None:
    assert edm.parse_int64("9223372036854775807") == edm.INT64_MAX
    assert edm.parse_int64(Decimal("-9223372036854775808")) == edm.INT64_MIN
    assert edm.parse_int("255", "Edm.Byte") == 255
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Int32"):
        edm.parse_int(2**31)


@pytest.mark.parametrize(
    "value", [Decimal("1e100000000"), Decimal("-1e309"), Decimal("0E-100000")], ids=["1e1e8", "-1e309", "0e-1e5"]
)
def test_writers_refuse_what_exact_cannot_hold(value: Decimal) -> None:
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Double"):
        edm.format_decimal(value)
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Double"):
        edm.dumps({"Amount": value})
    with pytest.raises(ODataError, match=r"Edm\.Double"):
        q.literal(value)


def test_huge_integers_have_no_literal() -> None:
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Double"):
        edm.format_decimal(10**400)
    with pytest.raises(ODataError, match=r"Edm\.Double"):
        q.literal(10**400, "Edm.Double")
    with pytest.raises(ODataError, match=r"Edm\.Int64"):
        q.literal(10**5000)
    with pytest.raises(edm.EdmValueError):  # beyond str()'s 4300 digits: typed, not a raw ValueError
        edm.dumps({"Amount": 10**5000})


def test_a_huge_exponent_in_a_page_is_a_typed_error_naming_the_request(clock: ManualClock) -> None:
    requests: list[object] = []
    client = answering(BOMB, clock=clock, requests=requests)
    with pytest.raises(UnexpectedResponseError) as caught:
        client.get("crm/Accounts")
    err = caught.value
    assert "Edm.Double" in err.message
    assert err.method == "GET"
    assert "crm/Accounts" in str(err.url)
    assert "1e100000000" in err.excerpt
    assert not err.retryable  # the same body would come back: no retry storm
    assert len(requests) == 1


def test_a_sync_row_with_a_huge_timestamp_never_becomes_a_cursor(clock: ManualClock) -> None:
    body = b'{"d":{"results":[{"ID":"00000000-0000-0000-0000-000000000001","Timestamp":1e200000}]}}'
    cursors = MemoryCursorStore()
    sync = Sync(answering(body, clock=clock), ["sync/CRM/Accounts"], cursor_store=cursors, include_deletions=False)
    with pytest.raises(UnexpectedResponseError, match=r"Edm\.Double"):
        sync.run(lambda batch: None)
    assert cursors.load(123456, "sync/CRM/Accounts") is None


def test_a_sync_row_with_an_int64_overflow_timestamp_is_refused(clock: ManualClock) -> None:
    body = b'{"d":{"results":[{"ID":"00000000-0000-0000-0000-000000000001","Timestamp":"99999999999999999999"}]}}'
    cursors = MemoryCursorStore()
    sync = Sync(answering(body, clock=clock), ["sync/CRM/Accounts"], cursor_store=cursors, include_deletions=False)
    with pytest.raises(edm.EdmValueError, match=r"Edm\.Int64"):
        sync.run(lambda batch: None)
    assert cursors.load(123456, "sync/CRM/Accounts") is None
