"""httpx transports that hold a :class:`~exact_online_sdk.clock.VirtualClock` still while a request is in flight.

An HTTP request from an actor to a real server (the emulator on 127.0.0.1) takes real time but no virtual time: its
answer belongs to the instant it was asked at. Threads that make requests are actors anyway (time waits for them to
sleep); the tasks of an event loop are not, so give the async client ``transport=AsyncClockedTransport(clock)``: the
request and the reading of the whole answer count as work in flight (``clock.busy()``), and time cannot jump while
the loop merely waits for the socket.
"""

from __future__ import annotations

import httpx

from exact_online_sdk.clock import VirtualClock

__all__ = ["AsyncClockedTransport", "ClockedTransport"]


class ClockedTransport(httpx.BaseTransport):
    """A blocking transport whose requests, answers read in full, are work in flight on ``clock``."""

    def __init__(self, clock: VirtualClock, inner: httpx.BaseTransport | None = None) -> None:
        self.clock = clock
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.clock.busy():
            response = self.inner.handle_request(request)
            response.read()
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncClockedTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`ClockedTransport`."""

    def __init__(self, clock: VirtualClock, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.clock = clock
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with self.clock.busy():
            response = await self.inner.handle_async_request(request)
            await response.aread()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
