"""The sans-IO pieces on their own: envelopes and error bodies, base URLs, query values, log redaction."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk import odata as q
from exact_online_sdk._core.request import encode_query, normalize_base_url, same_origin
from exact_online_sdk._core.response import RawResponse, error_for_response, parse_body, strip_metadata
from exact_online_sdk.exceptions import APIError, ConfigError, PaginationError, UnexpectedResponseError
from exact_online_sdk.log import JsonFormatter, RedactingFilter

from .conftest import DIVISION, FakeExact


def raw(status: int, content: bytes, ctype: str = "application/json") -> RawResponse:
    return RawResponse(status, {"content-type": ctype} if ctype else {}, content)


def test_strip_metadata_in_expanded_single_navigation_and_lists() -> None:
    value = {
        "__metadata": {"uri": "a"},
        "Account": {"__metadata": {"uri": "b"}, "Name": "x"},
        "Tags": ["t1"],
        "Plain": {"k": 1},
    }
    assert strip_metadata(value) == {"Account": {"Name": "x"}, "Tags": ["t1"], "Plain": {"k": 1}}
    assert strip_metadata([{"__metadata": {}, "A": 1}]) == [{"A": 1}]


@pytest.mark.parametrize(
    ("content", "kind", "data"),
    [
        (b"", "empty", None),
        (b'{"d":{"results":[],"__count":"x"}}', "collection", []),
        (b'{"d":"text"}', "value", "text"),
        (b'"bare"', "value", "bare"),
        (b"17", "value", 17),
    ],
)
def test_parse_body_shapes(content: bytes, kind: str, data: object) -> None:
    body = parse_body(raw(200, content))
    assert body.kind == kind
    assert body.data == data
    assert body.count is None


def test_parse_body_refuses_bad_utf8_and_missing_content_type_html() -> None:
    with pytest.raises(UnexpectedResponseError, match=r"bad UTF-8|invalid"):
        parse_body(raw(200, b'{"d": "\xff\xfe"}'))
    with pytest.raises(UnexpectedResponseError, match="content type missing"):
        parse_body(raw(200, b"<html>", ctype=""))


@pytest.mark.parametrize(
    ("content", "message", "code"),
    [
        (b'{"error":{"code":"E1","message":"plain"}}', "plain", "E1"),
        (b'{"error":"invalid_grant","error_description":"expired"}', "invalid_grant: expired", "invalid_grant"),
        (b'{"error":"invalid_request"}', "invalid_request", "invalid_request"),
        (b"[1,2]", "Exact Online server error", None),
        (b'{"other":1}', "Exact Online server error", None),
        (b"<html>Bad gateway</html>", "<html>Bad gateway</html>", None),
    ],
)
def test_error_bodies(content: bytes, message: str, code: str | None) -> None:
    err = error_for_response(raw(502, content), method="get", url="https://h/x", context={})
    assert err.message == message
    assert err.error_code == code
    assert err.retryable


def test_unknown_4xx_and_408() -> None:
    err = error_for_response(raw(418, b""), method="GET", url="https://h/x", context={})
    assert type(err) is APIError
    assert not err.retryable
    assert error_for_response(raw(408, b""), method="GET", url="https://h/x", context={}).retryable


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://START.exactonline.nl/", "https://start.exactonline.nl"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://127.0.0.2:9", "http://127.0.0.2:9"),
    ],
)
def test_base_urls(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("https://u:p@start.exactonline.nl", "credentials"),
        ("https://start.exactonline.nl/api", "host only"),
        ("https://start.exactonline.nl:99999", "not a valid URL"),
        ("start.exactonline.nl", "must look like"),
    ],
)
def test_bad_base_urls(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        normalize_base_url(url)


def test_same_origin() -> None:
    assert same_origin("https://start.exactonline.nl/api/v1/1/x?$skiptoken=1", "https://start.exactonline.nl")
    assert not same_origin("http://start.exactonline.nl/x", "https://start.exactonline.nl")
    assert not same_origin("https://start.exactonline.nl:444/x", "https://start.exactonline.nl")
    assert not same_origin("https://[bad/x", "https://start.exactonline.nl")


def test_query_values() -> None:
    assert encode_query({"a": True, "b": 0.1, "c": q.eq("Name", "x")}) == "a=true&b=0.1&c=Name%20eq%20'x'"
    assert encode_query(None) == ""


def test_iterating_a_single_entity_or_a_count(clock: object) -> None:
    exact = FakeExact(clock)  # type: ignore[arg-type]
    exact.route("Accounts(guid", {"d": {"ID": "a"}})
    exact.route("$count", httpx.Response(200, content=b"3", headers={"Content-Type": "text/plain"}))
    exact.route("Empty", httpx.Response(204))
    client = ExactOnlineClient(
        access_token="tok-123456", division=DIVISION, transport=httpx.MockTransport(exact), clock=exact.clock
    )
    assert list(client.iter_rows("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')")) == [{"ID": "a"}]
    assert list(client.iter_rows("crm/Empty")) == []
    with pytest.raises(PaginationError, match="expected a collection"):
        list(client.iter_rows("crm/Accounts/$count"))
    response = client.request("GET", "crm/Accounts(guid'00000000-0000-0000-0000-000000000001')")
    assert response.json() == response.data == {"ID": "a"}
    assert "tok-123456" not in repr(response)
    assert "ExactResponse(status_code=200" in repr(response)


def test_redacting_filter_survives_broken_format_and_redacts_tracebacks() -> None:
    filt = RedactingFilter()
    broken = logging.LogRecord("exact_online_sdk.x", logging.INFO, __file__, 1, "%d code=abc", ("x",), None)
    assert filt.filter(broken)
    assert "abc" not in broken.getMessage()
    try:
        raise RuntimeError("Bearer secret-token-123")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    rec = logging.LogRecord("exact_online_sdk.x", logging.ERROR, __file__, 1, "failed", None, exc_info)
    rec.note = "refresh_token=zzz"
    filt.filter(rec)
    line = JsonFormatter().format(rec)
    assert "secret-token-123" not in line
    assert "zzz" not in line
    assert "RuntimeError" in line
    plain = logging.LogRecord("exact_online_sdk.x", logging.ERROR, __file__, 1, "m", None, exc_info)
    assert "secret-token-123" not in JsonFormatter().format(plain)


def test_decimal_in_body_stays_exact() -> None:
    body = parse_body(raw(200, b'{"d":{"Amount":0.30000000000000004,"Qty":1E+2}}'))
    assert body.entity == {"Amount": Decimal("0.30000000000000004"), "Qty": Decimal("1E+2")}
