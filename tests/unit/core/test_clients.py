"""Client wiring: injected httpx clients, connection ownership, navigation links, async token sources."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, StaticToken
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import InvalidPathError

from .conftest import DIVISION, HOST, FakeExact, paged

NAV = f"{HOST}/api/v1/{DIVISION}/crm/Accounts(guid'00000000-0000-0000-0000-000000000001')/Contacts"


def test_injected_http_client_is_used_and_not_closed(exact: FakeExact) -> None:
    exact.route("crm/Accounts", {"d": {"results": []}})
    http = httpx.Client(transport=httpx.MockTransport(exact), headers={"X-Trace": "1"})
    with ExactOnlineClient(access_token="tok-123456", division=DIVISION, http_client=http, clock=exact.clock) as c:
        c.get("crm/Accounts")
    assert exact.requests[0].headers["X-Trace"] == "1"
    assert not http.is_closed
    http.close()


def test_owned_http_client_is_closed_and_uses_split_timeouts(exact: FakeExact) -> None:
    client = ExactOnlineClient(access_token="t", division=1, transport=httpx.MockTransport(exact), timeout=45)
    timeout = client._http.timeout
    assert (timeout.connect, timeout.read, timeout.pool) == (10.0, 45.0, 10.0)
    client.close()
    assert client._http.is_closed


def test_deferred_navigation_links_are_followable(exact: FakeExact) -> None:
    exact.route(
        "crm/Accounts?",
        {"d": {"results": [{"ID": "1", "Contacts": {"__deferred": {"uri": NAV}}}]}},
    )
    exact.route("/Contacts", {"d": {"results": [{"__metadata": {"uri": "c"}, "FullName": "Ann"}]}})
    client = ExactOnlineClient(
        access_token="t", division=DIVISION, transport=httpx.MockTransport(exact), clock=exact.clock
    )
    account = client.get("crm/Accounts", {"$select": "ID,Contacts"})[0]
    contacts = client.get_url(account["Contacts"]["__deferred"]["uri"])
    assert contacts == [{"FullName": "Ann"}]
    assert str(exact.requests[-1].url) == NAV
    with pytest.raises(InvalidPathError, match="configured Exact host"):
        client.get_url("https://evil.example/api/v1/1/crm/Accounts")


class SyncOnlySource:
    def __init__(self) -> None:
        self.rejected: list[str] = []

    def get_access_token(self) -> str:
        return "first-token" if not self.rejected else "second-token"

    def on_unauthorized(self, rejected_token: str) -> str | None:
        self.rejected.append(rejected_token)
        return "second-token"


def test_async_client_full_surface_with_a_sync_token_source(clock: ManualClock) -> None:
    exact = FakeExact(clock)
    exact.route("crm/Accounts", paged(130))
    exact.route("crm/Accounts(", lambda r: httpx.Response(204))
    exact.route("/Contacts", {"d": {"results": []}})
    exact.route("crm/Contacts", lambda r: httpx.Response(201, json={"d": {"ID": "c1"}}))
    source = SyncOnlySource()

    async def main() -> None:
        async with AsyncExactOnlineClient(
            auth=source, division=DIVISION, transport=httpx.MockTransport(exact), clock=clock
        ) as client:
            first = await client.get("crm/Accounts")
            assert first.has_more
            assert len(first) == 60
            pages = [p async for p in client.iter_pages("crm/Accounts", max_rows=100)]
            assert [len(p) for p in pages] == [60, 40]
            assert await client.post("crm/Contacts", {"FullName": "Ann"}) == {"ID": "c1"}
            key = "crm/Accounts(guid'00000000-0000-0000-0000-000000000001')"
            assert await client.put(key, {"Name": "n"}) is None
            assert await client.delete(key) is None
            assert await client.get_url(NAV) == []
            assert client.rate_limits().minutely_remaining is not None

    asyncio.run(main())
    assert [r.method for r in exact.requests].count("PUT") == 1
    assert source.rejected == []


def test_async_401_uses_the_sync_sources_reread(clock: ManualClock) -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"d": {"results": []}})])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return next(answers)

    source = SyncOnlySource()

    async def main() -> None:
        client = AsyncExactOnlineClient(auth=source, division=1, transport=httpx.MockTransport(handler), clock=clock)
        assert await client.get("crm/Accounts") == []
        await client.close()

    asyncio.run(main())
    assert seen == ["Bearer first-token", "Bearer second-token"]
    assert source.rejected == ["first-token"]


def test_reprs_never_show_tokens() -> None:
    client = ExactOnlineClient(auth=StaticToken("tok-abcdef-123"), division=1)
    assert "tok-abcdef-123" not in repr(client)
    assert repr(client) == "ExactOnlineClient(base_url='https://start.exactonline.nl', division=1)"
    client.close()


def test_current_division_from_current_me(exact: FakeExact) -> None:
    exact.route("current/Me", {"d": {"results": [{"__metadata": {"uri": "m"}, "CurrentDivision": 654321}]}})
    client = ExactOnlineClient(access_token="t", transport=httpx.MockTransport(exact), clock=exact.clock)
    assert client.current_division() == 654321
    assert str(exact.requests[0].url) == f"{HOST}/api/v1/current/Me?$select=CurrentDivision"
    exact.route("current/Me", {"d": {"results": []}})
    from exact_online_sdk.exceptions import UnexpectedResponseError

    with pytest.raises(UnexpectedResponseError, match="CurrentDivision"):
        client.current_division()

    async def main() -> int:
        exact.route("current/Me", {"d": {"results": [{"CurrentDivision": 7}]}})
        async with AsyncExactOnlineClient(
            access_token="t", transport=httpx.MockTransport(exact), clock=exact.clock
        ) as c:
            return await c.current_division()

    assert asyncio.run(main()) == 7
