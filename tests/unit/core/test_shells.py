"""The blocking and asyncio clients make the same requests and the same decisions: one table, both shells."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, RetryPolicy
from exact_online_sdk._core.flow import ExactResponse
from exact_online_sdk.clock import ManualClock

from .conftest import DIVISION, HOST, FakeExact, paged

T0 = 1_767_225_600.0


@dataclass
class Case:
    name: str
    call: tuple[str, tuple[Any, ...], dict[str, Any]]
    answers: list[httpx.Response | Exception] = field(default_factory=list)
    fake: Callable[[FakeExact], None] | None = None


def _r(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return (
        httpx.Response(status, json=body, headers=headers)
        if body is not None
        else httpx.Response(status, headers=headers)
    )


OKLIST = {"d": {"results": [{"__metadata": {"uri": "u"}, "ID": "a", "Amount": 0.1}]}}
CASES = [
    Case("get", ("get", ("crm/Accounts", {"$top": 5, "$filter": "Name eq 'O''Brien'"}), {}), [_r(200, OKLIST)]),
    Case("post", ("post", ("crm/Accounts", {"Name": "x"}), {}), [_r(201, {"d": {"ID": "n"}})]),
    Case("put", ("put", ("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')", {"Name": "y"}), {}), [_r(204)]),
    Case("delete", ("delete", ("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')",), {}), [_r(204)]),
    Case(
        "current-me",
        ("get", ("current/Me", {"$select": "CurrentDivision"}), {}),
        [_r(200, {"d": {"results": [{"CurrentDivision": 7}]}})],
    ),
    Case("5xx-retry", ("get", ("crm/Accounts",), {}), [_r(503), _r(500), _r(200, OKLIST)]),
    Case("read-timeout-get", ("get", ("crm/Accounts",), {}), [httpx.ReadTimeout("t"), _r(200, OKLIST)]),
    Case("read-timeout-post", ("post", ("crm/Accounts", {"N": 1}), {}), [httpx.ReadTimeout("t"), _r(201, {"d": {}})]),
    Case("connect-error-post", ("post", ("crm/Accounts", {"N": 1}), {}), [httpx.ConnectError("x"), _r(201, {"d": {}})]),
    Case("404", ("get", ("crm/Nope",), {}), [_r(404, {"error": {"code": "", "message": {"lang": "", "value": "nf"}}})]),
    Case("403-reason", ("get", ("crm/Accounts",), {}), [_r(403, headers={"Reason": "BlockedUser"})]),
    Case("401", ("get", ("crm/Accounts",), {}), [_r(401), _r(200, OKLIST)]),
    Case(
        "html-200",
        ("get", ("crm/Accounts",), {}),
        [httpx.Response(200, content=b"<html/>", headers={"Content-Type": "text/html"}), _r(200, OKLIST)],
    ),
    Case(
        "429-minutely",
        ("get", ("crm/Accounts",), {}),
        [
            _r(
                429,
                headers={"X-RateLimit-Minutely-Remaining": "0", "X-RateLimit-Minutely-Reset": str(int(T0 + 60) * 1000)},
            ),
            _r(200, OKLIST),
        ],
    ),
    Case(
        "429-daily",
        ("get", ("crm/Accounts",), {}),
        [
            _r(429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(T0 + 86400) * 1000)}),
        ],
    ),
    Case("paging", ("rows", ("crm/Accounts", {"$top": 130}), {}), fake=lambda f: f.route("crm/Accounts", paged(200))),
    Case(
        "pages-max-rows",
        ("pages", ("crm/Accounts", {"$select": "ID"}), {"max_rows": 100}),
        fake=lambda f: f.route("crm/Accounts", paged(200)),
    ),
    Case(
        "request-with-headers",
        ("request", ("GET", "crm/Accounts"), {"params": {"$top": 1}, "headers": {"X-Trace": "t1"}}),
        [_r(200, OKLIST)],
    ),
    Case("get-url", ("get_url", (f"{HOST}/api/v1/{DIVISION}/crm/Accounts?$skiptoken=5",), {}), [_r(200, OKLIST)]),
    Case(
        "put-503-then-204",
        ("put", ("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')", {}), {}),
        [_r(503), _r(204)],
    ),
    Case(
        "paging-paced",
        ("rows", ("crm/Accounts",), {}),
        fake=lambda f: (setattr(f, "minutely_limit", 2), f.route("crm/Accounts", paged(300))),
    ),
]


def _transport_handler(
    case: Case, clock: ManualClock
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    if case.fake is not None:
        fake = FakeExact(clock)
        case.fake(fake)
        return fake, fake.requests
    # fresh Response objects per run (a consumed response cannot be sent twice)
    answers = [
        a if isinstance(a, Exception) else httpx.Response(a.status_code, headers=a.headers, content=a.content)
        for a in case.answers
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


class Tokens:
    def __init__(self) -> None:
        self.n = 0

    def get_access_token(self) -> str:
        return f"token-{self.n}"

    def on_unauthorized(self, rejected_token: str) -> str | None:
        self.n += 1
        return f"token-{self.n}"

    async def aget_access_token(self) -> str:
        return self.get_access_token()

    async def aon_unauthorized(self, rejected_token: str) -> str | None:
        return self.on_unauthorized(rejected_token)


def _outcome(value: Any) -> Any:
    if isinstance(value, ExactResponse):
        return (value.status_code, value.data, value.attempts)
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value).split("[request_id=")[0], getattr(value, "status_code", None))
    return value


def _trace(requests: list[httpx.Request], clock: ManualClock, outcome: Any) -> dict[str, Any]:
    return {
        "requests": [(r.method, str(r.url), sorted(r.headers.items()), r.content) for r in requests],
        "elapsed": round(clock.now() - T0, 6),
        "outcome": _outcome(outcome),
    }


def run_sync(case: Case) -> dict[str, Any]:
    from exact_online_sdk._core.ratelimit import reset_shared_budgets

    reset_shared_budgets()
    clock = ManualClock(T0)
    handler, seen = _transport_handler(case, clock)
    client = ExactOnlineClient(
        auth=Tokens(),
        division=DIVISION,
        transport=httpx.MockTransport(handler),
        clock=clock,
        retry=RetryPolicy(random=lambda: 0.25),
    )
    name, args, kwargs = case.call
    try:
        if name in ("rows", "pages"):
            out: Any = list(getattr(client, f"iter_{name}")(*args, **kwargs))
        else:
            out = getattr(client, name)(*args, **kwargs)
    except Exception as exc:
        out = exc
    return _trace(seen, clock, out)


def run_async(case: Case) -> dict[str, Any]:
    from exact_online_sdk._core.ratelimit import reset_shared_budgets

    reset_shared_budgets()
    clock = ManualClock(T0)
    handler, seen = _transport_handler(case, clock)

    async def main() -> Any:
        async with AsyncExactOnlineClient(
            auth=Tokens(),
            division=DIVISION,
            transport=httpx.MockTransport(handler),
            clock=clock,
            retry=RetryPolicy(random=lambda: 0.25),
        ) as client:
            name, args, kwargs = case.call
            try:
                if name in ("rows", "pages"):
                    return [item async for item in getattr(client, f"iter_{name}")(*args, **kwargs)]
                return await getattr(client, name)(*args, **kwargs)
            except Exception as exc:
                return exc

    out = asyncio.run(main())
    return _trace(seen, clock, out)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_blocking_and_async_shells_behave_identically(case: Case) -> None:
    sync, asyn = run_sync(case), run_async(case)
    assert sync == asyn
    assert sync["requests"], "every case sends at least one request"


def test_table_covers_decisions() -> None:
    # Spot-check that the shared table really exercises retries, pacing and refusals.
    by_name = {c.name: run_sync(c) for c in CASES}
    assert len(by_name["5xx-retry"]["requests"]) == 3
    assert len(by_name["read-timeout-post"]["requests"]) == 1
    assert by_name["read-timeout-post"]["outcome"][0] == "TransportError"
    assert len(by_name["connect-error-post"]["requests"]) == 2
    assert by_name["429-daily"]["outcome"][0] == "DailyRateLimitExceeded"
    assert by_name["429-minutely"]["elapsed"] >= 60
    assert by_name["401"]["requests"][1][2] != by_name["401"]["requests"][0][2]
    assert len(by_name["paging"]["outcome"]) == 130
    assert len(by_name["paging-paced"]["requests"]) == 5
    assert by_name["paging-paced"]["elapsed"] >= 120
    assert by_name["current-me"]["requests"][0][1].endswith("/api/v1/current/Me?$select=CurrentDivision")
    assert [len(page) for page in by_name["pages-max-rows"]["outcome"]] == [60, 40]
    assert ("x-trace", "t1") in by_name["request-with-headers"]["requests"][0][2]
    assert len(by_name["put-503-then-204"]["requests"]) == 2
