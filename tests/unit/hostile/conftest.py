"""Shared pieces of the hostile-input tests: a client on an in-memory Exact that answers with given bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient
from exact_online_sdk._core.ratelimit import reset_shared_budgets
from exact_online_sdk.clock import ManualClock

HOST = "https://start.exactonline.nl"
DIVISION = 123456
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    reset_shared_budgets()
    yield
    reset_shared_budgets()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


def answering(
    body: bytes | Callable[[httpx.Request], httpx.Response],
    *,
    clock: ManualClock,
    requests: list[httpx.Request] | None = None,
    **options: object,
) -> ExactOnlineClient:
    """A client whose every request is answered 200 with ``body`` (or by the handler ``body``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        if callable(body):
            return body(request)
        return httpx.Response(200, content=body, headers=JSON)

    return ExactOnlineClient(
        access_token="at-hostile-0001",
        division=DIVISION,
        transport=httpx.MockTransport(handler),
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
