"""Envelopes, values, non-JSON answers and typed errors, with Exact's real wire shapes."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.client import ResultList
from exact_online_sdk.exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)

from .conftest import DIVISION, HOST, FakeExact, paged, rows


def make(exact: FakeExact) -> ExactOnlineClient:
    return ExactOnlineClient(
        access_token="at-123456", division=DIVISION, transport=httpx.MockTransport(exact), clock=exact.clock
    )


def test_results_envelope_strips_metadata_keeps_deferred_and_decimals(exact: FakeExact) -> None:
    body = (
        b'{"d":{"results":[{"__metadata":{"uri":"u","type":"t"},"ID":"a","Amount":0.1,"Big":12345678901234567.25,'
        b'"Timestamp":"5000000000","Contacts":{"__deferred":{"uri":"https://start.exactonline.nl/api/v1/1/x"}},'
        b'"Lines":{"results":[{"__metadata":{"uri":"l"},"LineNumber":1}]}}],"__count":"42"}}'
    )
    exact.route("crm/Accounts", httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))
    result = make(exact).get("crm/Accounts", {"$inlinecount": "allpages"})
    assert isinstance(result, ResultList)
    assert result.total_count == 42
    assert not result.has_more
    row = result[0]
    assert "__metadata" not in row
    assert row["Amount"] == Decimal("0.1")
    assert str(row["Amount"]) == "0.1"
    assert row["Big"] == Decimal("12345678901234567.25")
    assert row["Timestamp"] == "5000000000"
    assert row["Contacts"] == {"__deferred": {"uri": "https://start.exactonline.nl/api/v1/1/x"}}
    assert row["Lines"] == {"results": [{"LineNumber": 1}]}


def test_bare_array_and_single_entity_envelopes(exact: FakeExact) -> None:
    exact.route("crm/Accounts?", {"d": rows(2)})
    exact.route("crm/Accounts(guid", {"d": rows(1)[0]})
    client = make(exact)
    listed = client.get("crm/Accounts", {"$top": 2})
    assert [r["Name"] for r in listed] == ["Account 0", "Account 1"]
    one = client.get("crm/Accounts(guid'00000000-0000-0000-0000-000000000000')")
    assert one == {"ID": "00000000-0000-0000-0000-000000000000", "Name": "Account 0"}


def test_count_endpoint_returns_int(exact: FakeExact) -> None:
    exact.route("$count", httpx.Response(200, content=b"1234", headers={"Content-Type": "text/plain"}))
    assert make(exact).get("crm/Accounts/$count") == 1234


def test_get_of_a_partial_collection_says_there_is_more(exact: FakeExact, caplog: pytest.LogCaptureFixture) -> None:
    exact.route("crm/Accounts", paged(150))
    with caplog.at_level(logging.WARNING, "exact_online_sdk"):
        result = make(exact).get("crm/Accounts")
    assert len(result) == 60
    assert result.has_more
    assert result.next_url == f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$skiptoken=60"
    assert any("iter_rows" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("ctype", "content", "retryable", "needle"),
    [
        (
            "text/html; charset=utf-8",
            b"<html><body>Exact Online is down for maintenance</body></html>",
            True,
            "text/html",
        ),
        ("application/atom+xml", b"<?xml version='1.0'?><feed></feed>", False, "Atom XML"),
        ("application/json", b'{"d":{"results":[{"ID":', True, "truncated JSON"),
        ("application/json", b'{"value":[]}', False, "'d' envelope"),
    ],
)
def test_non_json_2xx_raises_typed_error(
    exact: FakeExact, ctype: str, content: bytes, retryable: bool, needle: str
) -> None:
    exact.route("crm/Accounts", httpx.Response(200, content=content, headers={"Content-Type": ctype}))
    client = make(exact)
    client.retry = client.retry.__class__(max_attempts=1)
    with pytest.raises(UnexpectedResponseError) as info:
        client.get("crm/Accounts")
    err = info.value
    assert needle in str(err)
    assert err.retryable is retryable
    assert err.content_type == ctype.split(";")[0]
    assert err.excerpt
    assert len(err.excerpt) <= 200
    assert err.status_code == 200


def test_html_maintenance_page_is_retried_then_succeeds(exact: FakeExact) -> None:
    answers = iter(
        [
            httpx.Response(200, content=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}),
            httpx.Response(200, json={"d": {"results": rows(1)}}),
        ]
    )
    exact.route("crm/Accounts", lambda r: next(answers))
    assert len(make(exact).get("crm/Accounts")) == 1
    assert len(exact.requests) == 2


def _error(status: int, message: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": "", "message": {"lang": "", "value": message}}} if message else None
    return httpx.Response(status, json=body, headers=headers) if body else httpx.Response(status, headers=headers)


@pytest.mark.parametrize(
    ("status", "cls", "message"),
    [
        (400, BadRequestError, "This $filter parameter is not supported for this resource"),
        (403, ForbiddenError, "Forbidden - Application Scope Violated. Cannot read"),
        (404, NotFoundError, "Resource not found"),
        (405, BadRequestError, "Method not allowed"),
        (500, ServerError, "Internal error"),
    ],
)
def test_error_statuses_map_to_types_with_exact_message(
    exact: FakeExact, status: int, cls: type[APIError], message: str
) -> None:
    exact.route("crm/Accounts", _error(status, message, {"Reason": "NoDivisionAccess"} if status == 403 else None))
    client = make(exact)
    client.retry = client.retry.__class__(max_attempts=1)
    with pytest.raises(cls) as info:
        client.get("crm/Accounts", {"$filter": "Amount ne Outstanding"})
    err = info.value
    assert err.status_code == status
    assert err.message == message
    assert err.method == "GET"
    assert err.url is not None
    assert err.url.startswith(f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$filter=")
    assert len(err.context["request_id"]) == 16
    assert err.context["rate_limits"]["minutely_remaining"] == 59
    assert isinstance(err.rate_limits, dict)
    if status == 403:
        assert err.reason == "NoDivisionAccess"
        assert "(Reason: NoDivisionAccess)" in str(err)
    assert message in str(err)
    assert ValidationError is BadRequestError


def test_401_with_static_token_is_authentication_error(exact: FakeExact) -> None:
    exact.route("crm/Accounts", httpx.Response(401))
    with pytest.raises(AuthenticationError) as info:
        make(exact).get("crm/Accounts")
    assert info.value.status_code == 401
    assert len(exact.requests) == 1


def test_errors_survive_pickling(exact: FakeExact) -> None:
    import pickle

    exact.route("crm/Accounts", _error(404, "Resource not found"))
    with pytest.raises(NotFoundError) as info:
        make(exact).get("crm/Accounts")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is NotFoundError
    assert str(copy) == str(info.value)
    assert copy.context["request_id"] == info.value.context["request_id"]
