"""Issues 15.3 and 15.4 at the token endpoint: whatever Exact's token endpoint answers, parsing it raises only the
SDK's typed errors (an answer nested past the interpreter's recursion limit was a raw RecursionError), and its body
is read under a cap (a 1 MB gzip bomb was inflated to 1 GiB)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk.auth.errors import TokenEndpointError
from exact_online_sdk.auth.oauth import TOKEN_ANSWER_BYTES, AsyncOAuthEndpoint, OAuthEndpoint, OAuthProtocol
from exact_online_sdk.auth.token import Token
from exact_online_sdk.exceptions import ExactOnlineError

from .fuzz import fuzz_settings, hostile_bytes
from .test_body_cap import CHUNK, gzip_bomb

DEEP = b'{"access_token":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _protocol() -> OAuthProtocol:
    return OAuthProtocol("https://start.exactonline.nl", "client-1", "cs-hostile-0001", "https://localhost/cb")


def test_a_deeply_nested_200_answer_is_a_token_endpoint_error() -> None:
    protocol = _protocol()
    with pytest.raises(TokenEndpointError, match="not JSON"):
        protocol.parse_answer(protocol.code_request("code-1"), 200, {}, DEEP, received_at=1_767_225_600.0)


def test_a_deeply_nested_error_answer_is_still_classified_by_its_status() -> None:
    protocol = _protocol()
    with pytest.raises(ExactOnlineError) as caught:
        protocol.parse_answer(protocol.code_request("code-1"), 400, {}, DEEP, received_at=1_767_225_600.0)
    assert getattr(caught.value, "status_code", None) == 400


@fuzz_settings
@given(body=hostile_bytes, status=st.sampled_from([200, 400, 401, 429, 500]))
def test_token_answers_raise_only_typed_errors(body: bytes, status: int) -> None:
    protocol = _protocol()
    with contextlib.suppress(ExactOnlineError):
        protocol.parse_answer(protocol.code_request("code-1"), status, {}, body, received_at=1_767_225_600.0)


class _Bomb(httpx.SyncByteStream, httpx.AsyncByteStream):
    """The 1 MB gzip bomb as a response stream, counting the compressed bytes pulled from it."""

    def __init__(self) -> None:
        self.pulled = 0

    def _chunks(self) -> Iterator[bytes]:
        bomb = gzip_bomb()
        for start in range(0, len(bomb), CHUNK):
            self.pulled += CHUNK
            yield bomb[start : start + CHUNK]

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks():
            yield chunk


def _bomb_answer(stream: _Bomb, status: int) -> httpx.Response:
    return httpx.Response(
        status, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, stream=stream
    )


def _old_token() -> Token:
    return Token("AT-old-0001", "RT-old-0001", issued_at=0.0, expires_at=600.0, generation=3)


@pytest.mark.parametrize("status", [200, 400])
def test_a_gzip_bomb_from_the_token_endpoint_stops_at_the_cap(status: int) -> None:
    stream = _Bomb()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _bomb_answer(stream, status)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    endpoint = OAuthEndpoint("https://start.exactonline.nl", "cid", "cs-hostile-0001", "https://x/cb", http_client=http)
    with pytest.raises(ExactOnlineError) as caught:
        endpoint.refresh(_old_token())
    if status == 200:
        assert isinstance(caught.value, TokenEndpointError)
        assert f"{TOKEN_ANSWER_BYTES:,}" in str(caught.value)
    assert stream.pulled <= 2 * CHUNK  # a few KB of the 1 MB bomb, never its 1 GiB inflated
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate"  # only what is inflated under the cap


def test_the_async_token_endpoint_caps_the_same_way() -> None:
    stream = _Bomb()

    async def handler(request: httpx.Request) -> httpx.Response:
        return _bomb_answer(stream, 200)

    async def refresh() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncOAuthEndpoint(
            "https://start.exactonline.nl", "cid", "cs-hostile-0001", "https://x/cb", http_client=http
        ) as endpoint:
            await endpoint.refresh(_old_token())

    with pytest.raises(TokenEndpointError, match="larger than"):
        asyncio.run(refresh())
    assert stream.pulled <= 2 * CHUNK
