"""Issue 15.4: unbounded bodies. Responses are streamed and decoded under a cap (``max_response_bytes``, default
64 MiB); a 1 MB gzip bomb that inflates to 1 GiB stops at the cap with a typed error, over MockTransport and over a
real socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from exact_online_sdk import AsyncExactOnlineClient, ExactOnlineClient, Settings
from exact_online_sdk._core.body import DEFAULT_MAX_RESPONSE_BYTES, BodyReader
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ConfigError, ResponseTooLargeError, ServerError, UnexpectedResponseError

from .conftest import DIVISION, answering

GIB = 1 << 30
MIB = 1 << 20
CHUNK = 64 * 1024


@cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros in about 1 MB of valid gzip: 1024 identical fully-flushed deflate blocks of 1 MiB each."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(bytes(MIB)) + deflate.flush(zlib.Z_FULL_FLUSH)  # no history: repeatable as is
    crc = 0
    zeros = bytes(MIB)
    for _ in range(GIB // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
    final = b"\x03\x00"  # an empty final block
    trailer = crc.to_bytes(4, "little") + (GIB % (1 << 32)).to_bytes(4, "little")
    return header + block * (GIB // MIB) + final + trailer


def test_the_bomb_is_what_the_issue_describes() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1.1 * MIB
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert inflater.decompress(bomb[: 4 * CHUNK], MIB) == bytes(MIB)  # it really inflates (checked on a slice)


class Pulled:
    """A response stream that counts the compressed bytes the client pulled from it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            chunk = self.data[start : start + CHUNK]
            self.pulled += len(chunk)
            yield chunk


def _gzip_answer(stream: Pulled, status: int = 200) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    return httpx.Response(status, headers=headers, stream=_Stream(stream))


class _Stream(httpx.SyncByteStream):
    def __init__(self, source: Pulled) -> None:
        self.source = source

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.source)


def test_a_gzip_bomb_stops_at_the_default_cap_with_a_typed_error(clock: ManualClock) -> None:
    stream = Pulled(gzip_bomb())
    client = answering(lambda request: _gzip_answer(stream), clock=clock)
    with pytest.raises(ResponseTooLargeError) as caught:
        client.get("crm/Accounts")
    err = caught.value
    assert err.limit == DEFAULT_MAX_RESPONSE_BYTES
    assert "max_response_bytes" in err.message
    assert not err.retryable
    assert err.method == "GET"
    # Reading stopped at the cap: about 64 KB of the 1 MB bomb (64 MiB of its 1 GiB) was ever pulled or inflated.
    assert stream.pulled < len(stream.data) // 8


def test_the_whole_bomb_in_one_chunk_is_never_inflated_past_the_cap() -> None:
    """A transport may hand the compressed body over in one piece: zlib is told the room left under the cap, so
    inflating the whole 1 MB bomb at once never builds more than the cap (not the bomb's 1 GiB)."""
    bomb = gzip_bomb()
    reader = BodyReader({"content-encoding": "gzip"}, MIB)
    tracemalloc.start()
    try:
        reader.feed(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.too_large
    assert reader.done
    assert len(reader.content) == MIB
    assert peak < 8 * MIB


def test_the_cap_is_a_client_option_and_a_setting(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    page = b'{"d":{"results":[' + b",".join([b'{"Name":"' + b"x" * 1000 + b'"}'] * 3000) + b"]}}"  # ~3 MB
    with pytest.raises(ResponseTooLargeError, match="1,048,576 bytes"):
        answering(page, clock=clock, max_response_bytes=MIB).get("crm/Accounts")
    monkeypatch.setenv("EXACT_MAX_RESPONSE_BYTES", str(2 * MIB))
    settings = Settings()
    assert settings.max_response_bytes == 2 * MIB
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=page))
    client = ExactOnlineClient(settings, access_token="at-1", division=DIVISION, transport=transport, clock=clock)
    with pytest.raises(ResponseTooLargeError, match="2,097,152 bytes"):
        client.get("crm/Accounts")
    assert len(answering(page, clock=clock, max_response_bytes=4 * MIB).get("crm/Accounts")) == 3000
    with pytest.raises(ConfigError, match="max_response_bytes"):
        answering(page, clock=clock, max_response_bytes=10)


def test_an_announced_oversize_body_is_refused_before_reading_it(clock: ManualClock) -> None:
    stream = Pulled(b" " * (3 * MIB))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(3 * MIB)}, stream=_Stream(stream))

    with pytest.raises(ResponseTooLargeError):
        answering(answer, clock=clock, max_response_bytes=MIB).get("crm/Accounts")
    assert stream.pulled == 0


def test_compressed_pages_still_decode(clock: ManualClock) -> None:
    body = b'{"d":{"results":[{"ID":1,"Amount":0.1}]}}'
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for encoding, data in [
        ("gzip", gzip.compress(body)),
        ("deflate", zlib.compress(body)),
        ("deflate", raw_deflate.compress(body) + raw_deflate.flush()),
    ]:
        answer = httpx.Response(200, headers={"Content-Encoding": encoding}, stream=_Stream(Pulled(data)))
        rows = answering(lambda request, a=answer: a, clock=clock).get("crm/Accounts")
        assert list(rows) == [{"ID": 1, "Amount": Decimal("0.1")}], encoding


def test_a_corrupt_or_unasked_encoding_is_a_typed_error(clock: ManualClock) -> None:
    def encoded(encoding: str, data: bytes) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": encoding}, stream=_Stream(Pulled(data)))

    requests: list[httpx.Request] = []
    corrupt = answering(lambda r: encoded("gzip", b"\x1f\x8b" + b"junk" * 10), clock=clock, requests=requests)
    with pytest.raises(UnexpectedResponseError, match="corrupt") as caught:
        corrupt.get("crm/Accounts")
    assert caught.value.retryable  # usually a broken connection: a GET tries again
    assert len(requests) == 5
    brotli = answering(lambda r: encoded("br", b"\x8b\x03\x80abc\x03"), clock=clock)
    with pytest.raises(UnexpectedResponseError, match="not asked for"):
        brotli.get("crm/Accounts")


def test_the_client_asks_only_for_encodings_it_decodes_under_the_cap(clock: ManualClock) -> None:
    requests: list[httpx.Request] = []
    answering(b'{"d":[]}', clock=clock, requests=requests).get("crm/Accounts")
    assert requests[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_an_error_body_is_cut_short_and_still_classified(clock: ManualClock) -> None:
    stream = Pulled(gzip_bomb())
    client = answering(lambda request: _gzip_answer(stream, status=500), clock=clock)
    with pytest.raises(ServerError):
        client.get("crm/Accounts")
    assert stream.pulled < 5 * MIB  # five attempts, each reading only the start of the error body


def test_the_async_client_caps_the_same_way(clock: ManualClock) -> None:
    source = Pulled(gzip_bomb())

    class AsyncStream(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for chunk in source:
                yield chunk

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=AsyncStream())

    async def main() -> None:
        async with AsyncExactOnlineClient(
            access_token="at-1", division=DIVISION, transport=httpx.MockTransport(answer), clock=clock
        ) as client:
            await client.get("crm/Accounts")

    with pytest.raises(ResponseTooLargeError):
        asyncio.run(main())
    assert source.pulled < len(source.data) // 8


class _BombServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        bomb = gzip_bomb()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(bomb)))
        self.end_headers()
        # the client stops reading at its cap and closes the connection
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(bomb)

    def log_message(self, *args: object) -> None:
        pass


def test_the_bomb_over_a_real_socket_stops_at_the_cap(clock: ManualClock) -> None:
    gzip_bomb()  # built before the server thread needs it
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BombServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with (
            ExactOnlineClient(
                access_token="at-1",
                division=DIVISION,
                base_url=f"http://127.0.0.1:{server.server_address[1]}",
                clock=clock,
                max_response_bytes=8 * MIB,
            ) as client,
            pytest.raises(ResponseTooLargeError, match="8,388,608 bytes"),
        ):
            client.get("crm/Accounts")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
