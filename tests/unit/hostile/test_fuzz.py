"""Issue 15.3: arbitrary bytes and arbitrary JSON thrown at every reader of Exact's answers; only typed errors
(subclasses of ExactOnlineError) may come out. Bounded and derandomized: see fuzz.py."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exact_online_sdk import ExactOnlineClient, edm, odata
from exact_online_sdk._core.flow import ExactResponse, Paginator
from exact_online_sdk._core.ratelimit import RateLimitSnapshot, parse_rate_limit_headers, reset_shared_budgets
from exact_online_sdk._core.request import RequestSpec, build_request
from exact_online_sdk._core.response import RawResponse, error_for_response, parse_body
from exact_online_sdk._core.retry import RetryPolicy
from exact_online_sdk.aws.webhook_receiver import WebhookReceiver
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator.bodies import request_json
from exact_online_sdk.emulator.exceptions import ApiError
from exact_online_sdk.exceptions import ExactOnlineError, ODataError
from exact_online_sdk.webhooks import (
    WebhookError,
    WebhookEvent,
    WebhookFormatError,
    compute_hash_code,
    verify_delivery,
)

from .conftest import DIVISION, HOST
from .fuzz import NUMBER_LITERALS, fuzz_settings, hostile_bytes, json_text, webhook_content

CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json;charset=utf-8", "text/plain", "text/html", "application/atom+xml", ""]
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
RATE_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-minutely-limit",
            "x-ratelimit-minutely-remaining",
            "x-ratelimit-minutely-reset",
            "retry-after",
            "date",
            "reason",
        ]
    ),
    st.one_of(header_text, st.sampled_from(["9" * 400, "²", "-1", "0", "1e9", "Fri, 31 Dec 9999 23:59:59 GMT"])),
    max_size=5,
)
SECRET = "whsec-fuzz-0001"


@fuzz_settings
@given(body=hostile_bytes, ctype=CONTENT_TYPES, status=st.sampled_from([200, 201, 204]))
def test_parse_body_raises_only_typed_errors(body: bytes, ctype: str, status: int) -> None:
    with contextlib.suppress(ExactOnlineError):
        parse_body(RawResponse(status, {"content-type": ctype}, body), method="GET", url=f"{HOST}/x")


@fuzz_settings
@given(body=hostile_bytes, status=st.integers(300, 599), headers=RATE_HEADERS)
def test_error_answers_become_typed_errors(body: bytes, status: int, headers: dict[str, str]) -> None:
    error = error_for_response(
        RawResponse(status, {"content-type": "application/json", **headers}, body),
        method="GET",
        url=f"{HOST}/x",
        context={},
    )
    assert isinstance(error, ExactOnlineError)
    str(error), repr(error)  # rendering must not raise either
    parse_rate_limit_headers(headers)


def _response(body: bytes) -> ExactResponse | None:
    try:
        parsed = parse_body(RawResponse(200, {"content-type": "application/json"}, body))
    except ExactOnlineError:
        return None
    return ExactResponse(200, {}, body, parsed, "GET", f"{HOST}/x", "r", 1, RateLimitSnapshot())


@fuzz_settings
@given(bodies=st.lists(hostile_bytes, min_size=1, max_size=3), limit=st.one_of(st.none(), st.integers(0, 5)))
def test_the_paginator_raises_only_typed_errors(bodies: list[bytes], limit: int | None) -> None:
    first = build_request(RequestSpec("GET", "crm/Accounts"), base_url=HOST, default_division=DIVISION)
    pager = Paginator(first, base_url=HOST, limit=limit)
    try:
        for body in bodies:
            response = _response(body)
            if response is None or pager.request is None:
                return
            page = pager.accept(response)
            assert all(isinstance(row, dict) for row in page.rows)
            if pager.request is not None:
                httpx.Request("GET", pager.request.url)  # what the paginator sends next must be sendable
    except ExactOnlineError:
        pass


@fuzz_settings
@given(
    pages=st.lists(
        st.tuples(st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 503]), hostile_bytes, RATE_HEADERS),
        min_size=1,
        max_size=4,
    )
)
def test_the_client_reading_every_page_raises_only_typed_errors(pages: list[tuple[int, bytes, dict[str, str]]]) -> None:
    """The whole read path over HTTP: status, rate-limit headers, envelopes, retries, paging, in one client."""
    reset_shared_budgets()
    answers = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        status, body, headers = next(answers, (200, b'{"d":[]}', {}))
        raw = [(b"content-type", b"application/json")] + [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
        return httpx.Response(status, content=body, headers=raw)  # headers as bytes, as they come off the wire

    clock = ManualClock(1_767_225_600.0)
    client = ExactOnlineClient(
        access_token="at-fuzz-0001",
        division=DIVISION,
        transport=httpx.MockTransport(handler),
        clock=clock,
        retry=RetryPolicy(max_attempts=2, deadline=600, random=lambda: 0.5),
    )
    try:
        for row in client.iter_rows("crm/Accounts"):
            assert isinstance(row, dict)
    except ExactOnlineError:
        pass


@fuzz_settings
@given(body=st.one_of(hostile_bytes, st.binary(max_size=200).map(lambda b: b'{"Content":' + b + b',"HashCode":"00"}')))
def test_the_webhook_verifier_raises_only_webhook_errors(body: bytes) -> None:
    with contextlib.suppress(WebhookError):
        verify_delivery(body, SECRET)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _signed(content: bytes) -> bytes:
    return b'{"Content":' + content + b',"HashCode":"' + compute_hash_code(content, SECRET).encode() + b'"}'


@fuzz_settings
@given(content=st.one_of(webhook_content().map(_utf8), json_text.map(_utf8), hostile_bytes))
def test_signed_but_arbitrary_content_raises_only_webhook_errors(content: bytes) -> None:
    """A correct HashCode over junk (a leaked secret, or Exact sending something new) is still only a typed error."""
    try:
        event = verify_delivery(_signed(content), SECRET)
    except WebhookError:
        return
    assert isinstance(event.division, int)
    assert all(isinstance(text, str) for text in (event.topic, event.action, event.key, event.endpoint))
    assert isinstance(event.client_id, str)


@fuzz_settings
@given(
    body=st.one_of(hostile_bytes, json_text.map(lambda t: _signed(t.encode("utf-8", "surrogatepass")))),
    encode=st.booleans(),
    method=st.sampled_from(["POST", "GET", "post"]),
)
def test_the_webhook_receiver_always_answers(body: bytes, encode: bool, method: str) -> None:
    sunk: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, sunk.append)
    event: dict[str, Any] = {
        "requestContext": {"http": {"method": method}},
        "body": base64.b64encode(body).decode() if encode else body.decode("utf-8", "replace"),
        "isBase64Encoded": encode,
    }
    answer = receiver.handle(event)
    assert answer["statusCode"] in (200, 400, 401, 405, 413)
    assert len(sunk) <= 1


def test_the_strategies_reach_the_hard_cases() -> None:
    """The fuzz input includes the shapes the issue names (a guard against a strategy that drifts to trivia)."""
    for literal in (b"1e100000000", b"9" * 5000, b"NaN"):
        with pytest.raises(edm.JSONFormatError) as caught:
            edm.loads(b"[" + literal + b"]")
        assert caught.value.kind == "number"


@fuzz_settings
@given(body=hostile_bytes)
def test_the_emulators_body_reader_raises_only_api_errors(body: bytes) -> None:
    with contextlib.suppress(ApiError):
        request_json(body)


@fuzz_settings
@given(
    text=st.one_of(
        st.text(max_size=40),
        NUMBER_LITERALS.flatmap(lambda n: st.sampled_from([n, n + "L", n + "M", n + "D", n + "f"])),
    )
)
def test_filter_literals_raise_only_odata_errors(text: str) -> None:
    """The emulator reads ``$filter`` literals from URLs it is sent: only ODataError may come out."""
    with contextlib.suppress(ODataError):
        odata.parse_typed_literal(text)
    with contextlib.suppress(ODataError):
        odata.parse_literal(text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Division", '"abc"'),
        ("Division", "1.5"),
        ("Division", "99999999999"),
        ("Division", "true"),
        ("Division", "[1]"),
        ("Division", '"²"'),
        ("Topic", "5"),
        ("Key", "{}"),
        ("ClientId", "null"),
    ],
)
def test_a_signed_delivery_with_a_mistyped_field_is_a_format_error(field: str, value: str) -> None:
    fields = {
        "Topic": '"Accounts"',
        "Action": '"Update"',
        "Division": "1001",
        "Key": '"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d111"',
        "ExactOnlineEndpoint": '"https://start.exactonline.nl/api/v1/1001/crm/Accounts"',
        "ClientId": '"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d112"',
    }
    fields[field] = value
    content = ("{" + ",".join(f'"{name}":{text}' for name, text in fields.items()) + "}").encode()
    with pytest.raises(WebhookFormatError, match=field):
        verify_delivery(_signed(content), SECRET)
