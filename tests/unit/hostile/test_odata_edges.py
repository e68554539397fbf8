"""Issue 15.12: OData edge cases raise a typed ODataError with the reason, never a raw ValueError or OverflowError,
and never silently build a different filter."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from exact_online_sdk import odata as q
from exact_online_sdk.exceptions import ODataError

PLUS_ONE = timezone(timedelta(hours=1))


@pytest.mark.parametrize("text", ["²", "٣", "1.5", "12abc", "", "9" * 5000, "9223372036854775808"])
def test_int64_text_that_is_not_an_int64_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ODataError, match=r"Edm\.Int64"):
        q.literal(text, "Edm.Int64")


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, q.Int64(2**70)], ids=["2**63", "-2**63-1", "Int64(2**70)"])
def test_int64_values_outside_the_range_are_refused(value: int) -> None:
    with pytest.raises(ODataError, match=r"outside Edm\.Int64's range"):
        q.literal(value, "Edm.Int64")


def test_int64_edges_and_ascii_digits_still_work() -> None:
    assert q.literal(" 42 ", "Edm.Int64") == "42L"
    assert q.literal(str(2**63 - 1), "Edm.Int64") == f"{2**63 - 1}L"
    assert q.literal(-(2**63), "Edm.Int64") == f"{-(2**63)}L"
    assert str(q.gt("Timestamp", q.Int64(5))) == "Timestamp gt 5L"


def test_an_aware_datetime_that_leaves_the_calendar_in_utc_is_refused() -> None:
    with pytest.raises(ODataError, match=r"outside the years 1\.\.9999"):
        q.literal(datetime(1, 1, 1, tzinfo=PLUS_ONE))
    with pytest.raises(ODataError, match=r"outside the years 1\.\.9999"):
        q.eq("Modified", datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))))
    with pytest.raises(ODataError, match=r"outside the years 1\.\.9999"):
        q.literal("0001-01-01T00:00:00+01:00", "Edm.DateTime")


def test_early_years_are_written_with_four_digits() -> None:
    # strftime("%Y") writes year 1 as "1" on Linux: an invalid literal
    assert q.literal(datetime(1, 1, 1)) == "datetime'0001-01-01T00:00:00'"
    assert q.literal(date(999, 12, 31)) == "datetime'0999-12-31T00:00:00'"
    assert q.literal(datetime(2024, 5, 6, 7, 8, 9, 123456)) == "datetime'2024-05-06T07:08:09.123'"


@pytest.mark.parametrize("spec", [("eq", "x", "y"), ("eq",), (), ("x", "y", "z"), (1, 2)])
def test_a_filter_tuple_is_operator_and_value_or_an_error(spec: tuple[object, ...]) -> None:
    with pytest.raises(ODataError, match=r"give \(operator, value\)"):
        q.build_filter({"Name": spec})


def test_several_values_are_a_list_and_say_so() -> None:
    assert str(q.build_filter({"Name": ("eq", ["x", "y"])})) == "Name eq 'x' or Name eq 'y'"
    assert str(q.build_filter({"Name": ["x", "y"]})) == "Name eq 'x' or Name eq 'y'"


@pytest.mark.parametrize(
    "text",
    [
        "9" * 5000,
        "9" * 5000 + "L",
        "datetime'2024-13-01T00:00:00'",
        "guid'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz'",
        "1.1e5",
    ],
)
def test_parse_literal_refuses_with_a_typed_error(text: str) -> None:
    with pytest.raises(ODataError):
        q.parse_literal(text)
