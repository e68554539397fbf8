"""Issue 15.3 at the token endpoint: whatever Exact's token endpoint answers, parsing it raises only the SDK's
typed errors (an answer nested past the interpreter's recursion limit was a raw RecursionError)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk.auth.errors import TokenEndpointError
from exact_online_sdk.auth.oauth import OAuthProtocol
from exact_online_sdk.exceptions import ExactOnlineError

from .fuzz import fuzz_settings, hostile_bytes

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
