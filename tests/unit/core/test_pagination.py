"""Pagination: __next verbatim, state in the iterator, $top/max_rows caps, loop and host checks."""

from __future__ import annotations

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk.exceptions import PaginationError

from .conftest import DIVISION, HOST, FakeExact, paged, rows


def make(exact: FakeExact) -> ExactOnlineClient:
    return ExactOnlineClient(
        access_token="at-123456", division=DIVISION, transport=httpx.MockTransport(exact), clock=exact.clock
    )


def test_iter_rows_follows_next_verbatim(exact: FakeExact) -> None:
    exact.route("crm/Accounts", paged(150))
    client = make(exact)
    got = list(client.iter_rows("crm/Accounts", {"$select": "ID,Name"}))
    assert len(got) == 150
    assert got[-1]["Name"] == "Account 149"
    assert "__metadata" not in got[0]
    assert [str(r.url) for r in exact.requests] == [
        f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$select=ID,Name",
        f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$skiptoken=60",
        f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$skiptoken=120",
    ]
    assert all(r.headers["Authorization"] == "Bearer at-123456" for r in exact.requests)


def test_pages_expose_rows_next_count_and_raw_content(exact: FakeExact) -> None:
    exact.route("crm/Accounts", paged(70))
    pages = list(make(exact).iter_pages("crm/Accounts"))
    assert [len(p) for p in pages] == [60, 10]
    assert pages[0].next_url is not None
    assert pages[1].next_url is None
    assert pages[0].number == 1
    assert b'"__next"' in pages[0].content


def test_two_iterators_on_one_client_are_independent(exact: FakeExact) -> None:
    exact.route("crm/Accounts", paged(130))
    client = make(exact)
    a, b = client.iter_pages("crm/Accounts"), client.iter_pages("crm/Accounts")
    assert next(a).rows[0]["Name"] == "Account 0"
    assert next(b).rows[0]["Name"] == "Account 0"
    assert next(a).rows[0]["Name"] == "Account 60"


@pytest.mark.parametrize(
    ("params", "max_rows", "expected", "calls"),
    [
        ({"$top": 100}, None, 100, 2),
        ({"$top": 60}, None, 60, 1),
        ({}, 61, 61, 2),
        ({"$top": 500}, 10, 10, 1),
        ({"$top": 0}, None, 0, 0),
    ],
)
def test_top_and_max_rows_cap_the_whole_result(
    exact: FakeExact, params: dict[str, int], max_rows: int | None, expected: int, calls: int
) -> None:
    exact.route("crm/Accounts", paged(1000))
    got = list(make(exact).iter_rows("crm/Accounts", params, max_rows=max_rows))
    assert len(got) == expected
    assert len(exact.requests) == calls
    if params.get("$top"):
        assert exact.requests[0].url.params["$top"] == str(params["$top"])


def test_repeated_next_raises(exact: FakeExact) -> None:
    loop = f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$skiptoken=guid'x'"
    exact.route("crm/Accounts", {"d": {"results": rows(1), "__next": loop}})
    with pytest.raises(PaginationError, match="repeated") as info:
        list(make(exact).iter_rows("crm/Accounts"))
    assert info.value.pages == 2
    assert len(exact.requests) == 2


def test_next_on_another_host_is_refused(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": rows(1), "__next": "https://evil.example/api/v1/1/x?$skiptoken=1"}})
    it = make(exact).iter_rows("crm/Accounts")
    with pytest.raises(PaginationError, match="another host"):
        list(it)
    assert all(r.url.host == "start.exactonline.nl" for r in exact.requests)


def test_negative_or_bad_top(exact: FakeExact) -> None:
    with pytest.raises(ValueError, match="integer"):
        list(make(exact).iter_rows("crm/Accounts", {"$top": "ten"}))
    with pytest.raises(ValueError, match="negative"):
        list(make(exact).iter_rows("crm/Accounts", max_rows=-1))
