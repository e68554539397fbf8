"""The httpx side of both client shells: perform one :class:`~._core.flow.Send` and read its body under a cap.

Everything here is I/O; every decision stays in ``_core``. A request that cannot be built or written (a header or
URL HTTP cannot carry) is a *local* failure: nothing left this process, so it is reported as not sent and is never
retried. The body is streamed and decoded through :class:`~._core.body.BodyReader`, so a compressed body is never
inflated past ``max_response_bytes``. No message built here contains a header value (the token is one).
"""

from __future__ import annotations

import httpx

from ._core.body import ERROR_BODY_BYTES, BodyReader
from ._core.flow import Send, TransportFailure
from ._core.response import RawResponse

__all__ = ["receive_async", "receive_blocking", "send_async", "send_blocking"]

_LOCAL = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)
"""httpx errors raised while *writing* the request, before a byte of it is sent."""
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""No connection: Exact cannot have received the request, so even a POST may be sent again."""


def _local_failure(exc: BaseException) -> TransportFailure:
    # h11 puts the offending header value in its message, and that value may be the token: say only what failed.
    return TransportFailure(
        kind=type(exc).__name__,
        detail="the request could not be written: a header or the URL holds characters HTTP cannot carry",
        maybe_sent=False,
        local=True,
    )


def _failure(exc: httpx.TransportError) -> TransportFailure:
    if isinstance(exc, _LOCAL):
        return _local_failure(exc)
    kind = type(exc).__name__
    return TransportFailure(kind=kind, detail=str(exc) or kind, maybe_sent=not isinstance(exc, _NOT_SENT))


def _build(http: httpx.Client | httpx.AsyncClient, action: Send) -> httpx.Request | TransportFailure:
    headers = dict(action.request.headers)
    headers["Authorization"] = f"Bearer {action.token}"
    try:
        return http.build_request(
            action.request.method, action.request.url, headers=headers, content=action.request.content
        )
    except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeError, ValueError) as exc:
        return _local_failure(exc)


def _reader(response: httpx.Response, limit: int) -> BodyReader:
    headers = {k.lower(): v for k, v in response.headers.items()}
    if response.is_stream_consumed:
        # A transport that read and decoded the body itself (httpx.MockTransport with content=): cap what it gave.
        headers.pop("content-encoding", None)
        headers.pop("content-length", None)
    return BodyReader(headers, limit if 200 <= response.status_code < 300 else ERROR_BODY_BYTES)


def _raw(response: httpx.Response, reader: BodyReader) -> RawResponse:
    error_status = not 200 <= response.status_code < 300
    return RawResponse(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        content=reader.content,
        # A long error body is simply cut: its first bytes carry Exact's message.
        too_large=reader.too_large and not error_status,
        limit=reader.limit,
        decode_error=None if error_status else reader.error,
    )


def receive_blocking(http: httpx.Client, request: httpx.Request, limit: int) -> tuple[httpx.Response, BodyReader]:
    """Send ``request`` and read its body through a :class:`BodyReader`: at most ``limit`` decoded bytes of a 2xx
    body, the first 64 KiB of any other. Raises ``httpx.TransportError``; the response is closed on return."""
    response = http.send(request, stream=True)
    try:
        reader = _reader(response, limit)
        if response.is_stream_consumed:
            reader.feed(response.content)
        elif not reader.done:  # an announced oversize body is not read at all
            for chunk in response.iter_raw():
                reader.feed(chunk)
                if reader.done:
                    break
        if not reader.done:
            reader.finish()
    finally:
        response.close()  # stops reading a body past the cap; the connection is dropped, not reused
    return response, reader


async def receive_async(
    http: httpx.AsyncClient, request: httpx.Request, limit: int
) -> tuple[httpx.Response, BodyReader]:
    """The asyncio form of :func:`receive_blocking`."""
    response = await http.send(request, stream=True)
    try:
        reader = _reader(response, limit)
        if response.is_stream_consumed:
            reader.feed(response.content)
        elif not reader.done:
            async for chunk in response.aiter_raw():
                reader.feed(chunk)
                if reader.done:
                    break
        if not reader.done:
            reader.finish()
    finally:
        await response.aclose()
    return response, reader


def send_blocking(http: httpx.Client, action: Send, limit: int) -> RawResponse | TransportFailure:
    """Send ``action`` and read at most ``limit`` decoded bytes of a 2xx body."""
    request = _build(http, action)
    if isinstance(request, TransportFailure):
        return request
    try:
        response, reader = receive_blocking(http, request, limit)
    except httpx.TransportError as exc:
        return _failure(exc)
    return _raw(response, reader)


async def send_async(http: httpx.AsyncClient, action: Send, limit: int) -> RawResponse | TransportFailure:
    """The asyncio form of :func:`send_blocking`."""
    request = _build(http, action)
    if isinstance(request, TransportFailure):
        return request
    try:
        response, reader = await receive_async(http, request, limit)
    except httpx.TransportError as exc:
        return _failure(exc)
    return _raw(response, reader)
