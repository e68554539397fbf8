"""Fixtures for the HTTP core: a fake Exact speaking the real wire format over httpx.MockTransport."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from exact_online_sdk._core.ratelimit import reset_shared_budgets
from exact_online_sdk.clock import ManualClock

HOST = "https://start.exactonline.nl"
DIVISION = 123456


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    reset_shared_budgets()
    yield
    reset_shared_budgets()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)  # 2026-01-01T00:00:00Z


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeExact:
    """Exact's rate limiting and headers: clock-aligned minutely window, daily window at 00:00 UTC,
    resets in epoch ms, a ``Date`` header from Exact's clock (``skew`` seconds ahead of ours)."""

    clock: ManualClock
    minutely_limit: int = 60
    daily_limit: int = 5000
    skew: float = 0.0
    routes: list[tuple[str, Handler]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    rejected: int = 0

    def route(self, fragment: str, handler: Handler | dict[str, Any] | httpx.Response) -> None:
        """Answer requests whose URL contains ``fragment`` (later routes win)."""
        if isinstance(handler, dict):
            body = handler
            self.routes.insert(0, (fragment, lambda r: httpx.Response(200, json=body)))
        elif isinstance(handler, httpx.Response):
            resp = handler
            self.routes.insert(0, (fragment, lambda r: resp))
        else:
            self.routes.insert(0, (fragment, handler))

    def server_now(self) -> float:
        return self.clock.now() + self.skew

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        now = self.server_now()
        minute = math.floor(now / 60)
        day = math.floor(now / 86400)
        used_m = self.counts.get(("m", minute), 0)
        used_d = self.counts.get(("d", day), 0)
        m_reset = str((minute + 1) * 60 * 1000)
        d_reset = str((day + 1) * 86400 * 1000)
        date = formatdate(now, usegmt=True)
        if used_d >= self.daily_limit:
            self.rejected += 1
            return httpx.Response(
                429,
                headers={
                    "X-RateLimit-Limit": str(self.daily_limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": d_reset,
                    "Date": date,
                },
            )
        if used_m >= self.minutely_limit:
            self.rejected += 1
            return httpx.Response(
                429,
                headers={
                    "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                    "X-RateLimit-Minutely-Remaining": "0",
                    "X-RateLimit-Minutely-Reset": m_reset,
                    "Date": date,
                },
            )
        self.counts[("m", minute)] = used_m + 1
        self.counts[("d", day)] = used_d + 1
        response = self._answer(request)
        response.headers.update(
            {
                "X-RateLimit-Limit": str(self.daily_limit),
                "X-RateLimit-Remaining": str(self.daily_limit - used_d - 1),
                "X-RateLimit-Reset": d_reset,
                "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                "X-RateLimit-Minutely-Remaining": str(self.minutely_limit - used_m - 1),
                "X-RateLimit-Minutely-Reset": m_reset,
                "Date": date,
            }
        )
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        for fragment, handler in self.routes:
            if fragment in url:
                return handler(request)
        return httpx.Response(404, json={"error": {"code": "", "message": {"lang": "", "value": "Resource not found"}}})


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "__metadata": {
                "uri": f"{HOST}/api/v1/{DIVISION}/crm/Accounts(guid'00000000-0000-0000-0000-{i:012d}')",
                "type": "Exact.Web.Api.Models.Account",
            },
            "ID": f"00000000-0000-0000-0000-{i:012d}",
            "Name": f"Account {i}",
        }
        for i in range(start, start + n)
    ]


def paged(total: int, page_size: int = 60, base: str = f"{HOST}/api/v1/{DIVISION}/crm/Accounts") -> Handler:
    """A collection of ``total`` rows served ``page_size`` at a time with ``__next``/``$skiptoken``."""

    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params.get("$skiptoken", "0"))
        chunk = rows(min(page_size, total - skip), skip)
        d: dict[str, Any] = {"results": chunk}
        if skip + page_size < total:
            d["__next"] = f"{base}?$skiptoken={skip + page_size}"
        return httpx.Response(200, content=json.dumps({"d": d}).encode(), headers={"Content-Type": "application/json"})

    return handler


@pytest.fixture
def exact(clock: ManualClock) -> FakeExact:
    return FakeExact(clock)
