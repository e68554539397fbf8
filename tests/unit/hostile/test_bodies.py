"""Issue 15.3: every bad body is a typed error naming the request and an excerpt, never a raw RecursionError,
ValueError, TypeError, AttributeError, OverflowError or UnicodeDecodeError."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from exact_online_sdk import edm
from exact_online_sdk._core.ratelimit import parse_rate_limit_headers
from exact_online_sdk._core.retry import parse_retry_after
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import BadRequestError, PaginationError, UnexpectedResponseError

from .conftest import HOST, JSON, answering


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"d":{"results":[{"ID":' + b"9" * 5000 + b"}]}}", "400 characters"),
        (b'{"d":{"results":[1,2]}}', "is a JSON int, not an object"),
        (b'{"d":[null]}', "is a JSON NoneType, not an object"),
        (b'{"d":{"results":[],"__next":5}}', "__next is a JSON int"),
        (b'{"d":{"results":[],"__next":{"uri":"x"}}}', "__next is a JSON dict"),
        ('{"d":{"results":[]}}'.encode("utf-16"), "UTF-16"),
        ('{"d":{"results":[]}}'.encode("utf-32-be"), "UTF-16 or UTF-32"),
        (b'{"d":{"results":[{"Name":"\xff"}]}}', "invalid UTF-8"),
        (b'{"d":{"A":NaN}}', "not JSON"),
    ],
    ids=["deep", "5000-digits", "int-rows", "null-row", "next-int", "next-object", "utf16", "utf32", "latin1", "nan"],
)
def test_bad_bodies_are_typed_errors_naming_the_request(body: bytes, needle: str, clock: ManualClock) -> None:
    with pytest.raises(UnexpectedResponseError, match=needle) as caught:
        answering(body, clock=clock).get("crm/Accounts", {"$select": "ID"})
    err = caught.value
    assert err.method == "GET"
    assert err.url is not None
    assert "/api/v1/123456/crm/Accounts" in err.url
    assert "crm/Accounts" in str(err)
    assert err.excerpt  # the first characters of the body, for the log
    assert len(err.excerpt) <= 200


@pytest.mark.parametrize("body", [b"[" * 50_000, b"[" * 50_000 + b"1" * 19], ids=["fast-reader", "bounded-reader"])
def test_deep_nesting_is_a_depth_error_from_either_reader(body: bytes) -> None:
    """edm.loads decodes with msgspec, or (a 19-digit run) with the bounded standard-library reader: both stop a
    hostile depth with a JSONFormatError, never a RecursionError."""
    with pytest.raises(edm.JSONFormatError) as caught:
        edm.loads(body)
    assert caught.value.kind == "depth"


def test_a_utf8_byte_order_mark_is_tolerated(clock: ManualClock) -> None:
    rows = answering(b'\xef\xbb\xbf{"d":{"results":[{"ID":1}]}}', clock=clock).get("crm/Accounts")
    assert list(rows) == [{"ID": 1}]


@pytest.mark.parametrize(
    "link",
    [f"{HOST}/api/v1/123456/crm/Accounts?$skiptoken=\x00", f"{HOST}/a\nb", f"{HOST}/" + "a" * 70_000, f"{HOST}/\ud800"],
    ids=["nul", "newline", "huge", "surrogate"],
)
def test_a_next_link_that_cannot_be_a_request_line_is_a_pagination_error(link: str, clock: ManualClock) -> None:
    first = edm.dumps({"d": {"results": [{"ID": 1}], "__next": link}}) if "\ud800" not in link else None
    body = first or b'{"d":{"results":[{"ID":1}],"__next":"' + HOST.encode() + b'/\\ud800"}}'
    requests: list[httpx.Request] = []
    with pytest.raises(PaginationError, match="__next"):
        list(answering(body, clock=clock, requests=requests).iter_rows("crm/Accounts"))
    assert len(requests) == 1  # nothing was sent for the bad link


def test_a_date_beyond_the_calendar_is_an_edm_error() -> None:
    for text in ["/Date(99999999999999999999)/", "/Date(" + "9" * 5000 + ")/", "/Date(-99999999999999)/"]:
        with pytest.raises(edm.EdmValueError, match=r"Edm\.DateTime"):
            edm.parse_datetime(text)
    assert edm.parse_datetime("/Date(253402300799999)/") == datetime(9999, 12, 31, 23, 59, 59, 999000)


def test_hostile_rate_limit_and_retry_headers_are_ignored_not_raised() -> None:
    limits = parse_rate_limit_headers(
        {
            "x-ratelimit-minutely-reset": "9" * 400,  # /1000 would overflow a float
            "x-ratelimit-minutely-remaining": "²",  # isdigit() but not a number int() reads
            "x-ratelimit-remaining": "-5",
            "x-ratelimit-reset": "1e9",
        }
    )
    assert limits.minutely_reset is None
    assert limits.minutely_remaining is None
    assert limits.daily_remaining is None
    assert limits.daily_reset is None
    assert parse_retry_after({"retry-after": "²"}, 0.0) is None
    assert parse_retry_after({"retry-after": "9" * 400}, 0.0) is None
    assert parse_retry_after({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, 0.0) is not None


def test_error_bodies_are_read_safely_and_cut_short(clock: ManualClock) -> None:
    deep = b'{"error":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    long_message = b'{"error":{"code":"","message":{"lang":"","value":"' + b"x" * 100_000 + b'"}}}'
    for body in (deep, long_message):
        client = answering(lambda request, b=body: httpx.Response(400, content=b, headers=JSON), clock=clock)
        with pytest.raises(BadRequestError) as caught:
            client.get("crm/Accounts")
        assert len(str(caught.value)) < 1200
