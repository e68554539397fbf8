"""Issue 15.2/15.3 on the typed read path: rows (msgspec) and models (pydantic) read hostile pages with the same
bounds as ``edm.loads``, and every failure is a typed error; through the typed API it names the request."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from hypothesis import given

from exact_online_sdk import edm
from exact_online_sdk.api.endpoints import AccountsAPI
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ExactOnlineError, UnexpectedResponseError
from exact_online_sdk.models import Account, AccountRow, SyncAccountRow, parse_rows
from exact_online_sdk.models._parse import parse_entity, parse_page
from exact_online_sdk.models._row import NotAPage

from .conftest import JSON, answering
from .fuzz import fuzz_settings, hostile_bytes

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def page(row: str) -> bytes:
    return ('{"d":{"results":[' + row + "]}}").encode()


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        (page('{"ID":"' + GUID + '","CreditLineSales":1e100000000}'), edm.JSONFormatError, "Edm.Double"),
        (page('{"ID":"' + GUID + '","CreditLineSales":' + "9" * 5000 + "}"), edm.JSONFormatError, "400"),
        (page('{"ID":"' + GUID + '","Timestamp":"99999999999999999999"}'), edm.EdmValueError, "Edm.Int64"),
        (page('{"ID":"' + GUID + '","Modified":"/Date(99999999999999999999)/"}'), edm.EdmValueError, "DateTime"),
        # Arabic-Indic digits: str.isdigit and int() take them; edm's /Date(ms)/ rule does not.
        (page('{"ID":"' + GUID + '","Modified":"/Date(\u0661\u0662)/"}'), edm.EdmValueError, "DateTime"),
        (page("1,2"), NotAPage, "JSON int"),
        (b'{"d":{"results":[],"__next":5}}', NotAPage, "__next"),
        (b"[" * 50_000, edm.JSONFormatError, "nested"),
        (page("{}").decode().encode("utf-16"), edm.JSONFormatError, "UTF-16"),
    ],
    ids=["exponent", "5000-digits", "int64", "date", "arabic-indic-date", "int-rows", "next", "deep", "utf16"],
)
def test_rows_raise_typed_errors(body: bytes, error: type[Exception], needle: str) -> None:
    cls = SyncAccountRow if b"Timestamp" in body else AccountRow
    with pytest.raises(error, match=needle):
        parse_rows(cls, body)


def test_rows_inside_the_ranges_stay_exact() -> None:
    (row,) = parse_rows(AccountRow, page('{"ID":"' + GUID + '","CreditLineSales":1.7976931348623157e308}')).rows
    assert row.credit_line_sales == edm.DOUBLE_MAX
    bounded = parse_rows(SyncAccountRow, page('{"ID":"' + GUID + '","Timestamp":"9223372036854775807"}')).rows
    assert bounded[0].timestamp == edm.INT64_MAX


@pytest.mark.parametrize(
    "body",
    [
        page('{"ID":"' + GUID + '","Name":5}'),
        page('{"ID":"' + GUID + '","Modified":"/Date(' + "9" * 5000 + ')/"}'),
        page('{"ID":"' + GUID + '","CreditLineSales":1e100000000}'),
    ],
    ids=["wrong-type", "huge-date", "exponent"],
)
def test_models_raise_typed_errors_not_pydantic_ones(body: bytes) -> None:
    with pytest.raises(ExactOnlineError):
        parse_page(Account, body)
    with pytest.raises(ExactOnlineError):
        parse_entity(Account, body.replace(b'{"results":[', b"").replace(b"]}}", b"}"))


@pytest.mark.parametrize(
    "body",
    [
        page('{"ID":"' + GUID + '","CreditLineSales":1e100000000}'),
        page('{"ID":"' + GUID + '","Name":{"nested":true}}'),
        page("1,2"),
        b'{"d":{"results":[],"__next":{"uri":"x"}}}',
    ],
    ids=["exponent", "wrong-type", "int-rows", "next-object"],
)
def test_the_typed_api_names_the_request(body: bytes, clock: ManualClock) -> None:
    requests: list[httpx.Request] = []
    client = answering(lambda request: httpx.Response(200, content=body, headers=JSON), clock=clock, requests=requests)
    with pytest.raises(UnexpectedResponseError) as caught:
        AccountsAPI(client).list(select=["ID", "Name"], top=5)
    err = caught.value
    assert err.method == "GET"
    assert "crm/Accounts" in str(err.url)
    assert err.excerpt
    assert not err.retryable
    assert len(requests) == 1


@fuzz_settings
@given(body=hostile_bytes)
def test_the_typed_parsers_raise_only_typed_errors(body: bytes) -> None:
    for parse in (lambda: parse_rows(AccountRow, body), lambda: parse_page(Account, body)):
        with contextlib.suppress(ExactOnlineError):
            parse()


@fuzz_settings
@given(body=hostile_bytes)
def test_the_typed_api_raises_only_typed_errors(body: bytes) -> None:
    from exact_online_sdk._core.ratelimit import reset_shared_budgets

    reset_shared_budgets()
    client = answering(
        lambda request: httpx.Response(200, content=body, headers=JSON), clock=ManualClock(1_767_225_600.0)
    )
    with contextlib.suppress(ExactOnlineError):
        AccountsAPI(client).list(select=["ID", "Name"], top=3)
