"""The token-endpoint protocol: request bodies, Token timing, and Exact's refusals as typed errors."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest

from exact_online_sdk.auth import errors
from exact_online_sdk.auth.oauth import AsyncOAuthEndpoint, OAuthEndpoint, parse_callback, verify_state
from exact_online_sdk.auth.token import Token
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import AuthenticationError, ConfigError

BASE = "https://start.exactonline.nl"
SECRET = "client-secret-value-123"


def _date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)


def _endpoint(handler, clock=None, **kw):
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return OAuthEndpoint(BASE, "cid", SECRET, "https://app.example/cb", http_client=http, clock=clock, **kw)


def _ok(expires_in="600", date=None, **extra):
    body = {"access_token": "AT-new", "token_type": "bearer", "expires_in": expires_in, "refresh_token": "RT!new"}
    headers = {"Date": _date(date)} if date is not None else {}
    return httpx.Response(200, json={**body, **extra}, headers=headers)


def _old(gen=3):
    return Token("AT-old", "RT!old", issued_at=0.0, expires_at=600.0, generation=gen)


def test_code_exchange_sends_form_body_with_decoded_code_and_uses_date_header():
    clock = ManualClock(1_767_225_600.0)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok(date=clock.now() + 3)  # Exact's clock runs 3 s ahead of ours

    token = _endpoint(handler, clock).exchange_code("XTzM%21IAAAA")
    req = seen[0]
    assert req.method == "POST"
    assert str(req.url) == BASE + "/api/oauth2/token"
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in req.headers
    form = parse_qs(req.content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["XTzM!IAAAA"],
        "redirect_uri": ["https://app.example/cb"],
        "client_id": ["cid"],
        "client_secret": [SECRET],
    }
    assert token.generation == 1
    assert token.issued_at == clock.now() + 3
    assert token.expires_at == token.issued_at + 600
    assert token.token_type == "Bearer"
    assert "AT-new" not in repr(token)
    assert "RT!new" not in str(token)


@pytest.mark.parametrize("expires_in", ["600", 600, 600.0, " 600 "])
def test_refresh_accepts_expires_in_string_or_number_and_bumps_generation(expires_in):
    clock = ManualClock(10_000.0)
    seen = []

    def handler(request):
        seen.append(parse_qs(request.content.decode()))
        return _ok(expires_in=expires_in)

    token = _endpoint(handler, clock).refresh(_old(gen=7))
    assert seen[0]["grant_type"] == ["refresh_token"]
    assert seen[0]["refresh_token"] == ["RT!old"]
    assert token.generation == 8
    assert (token.issued_at, token.expires_at) == (10_000.0, 10_600.0)  # no Date header: local clock


def test_issue_time_is_exacts_date_and_the_offset_is_measured_on_every_answer():
    """Issue 12 defect 6: one time base, Exact's. A local clock 40 s behind Exact still stamps Exact's time."""
    clock = ManualClock(1_767_225_600.0)
    skew = {"s": 40.0}
    endpoint = _endpoint(lambda r: _ok(date=clock.now() + skew["s"]), clock)
    token = endpoint.refresh(_old())
    assert token.issued_at == clock.now() + 40
    assert token.expires_at == token.issued_at + 600
    assert endpoint.clock.offset == pytest.approx(40)  # Exact's time is never overestimated
    assert token.clock_offset == pytest.approx(40)  # stored, so readers on this clock use it
    assert endpoint.clock.now() == pytest.approx(clock.now() + 40)
    skew["s"] = -30.0  # the clocks stepped: the offset follows as far as the answer proves
    endpoint.refresh(_old())
    assert endpoint.clock.offset == pytest.approx(-29)


def test_a_slow_answer_does_not_drag_a_good_offset_away():
    clock = ManualClock(1_767_225_600.0)

    def slow(request):
        date = clock.now()
        clock.advance(20)  # 20 s in flight: the answer proves only that the offset lies in [-20, +1]
        return _ok(date=date)

    endpoint = _endpoint(slow, clock)
    endpoint.refresh(_old())
    assert endpoint.clock.offset == 0


def test_implausible_date_header_falls_back_to_local_clock():
    clock = ManualClock(1_767_225_600.0)
    endpoint = _endpoint(lambda r: _ok(date=clock.now() + 7 * 3600), clock)
    token = endpoint.refresh(_old())
    assert token.issued_at == clock.now()
    assert endpoint.clock.offset == 0


@pytest.mark.parametrize("bad", ["abc", "-5", None, True, ""])
def test_a_successful_refresh_with_an_odd_lifetime_is_kept_with_600_s(bad):
    """Issue 12 defect 7: Exact already rotated; dropping the answer would lose the only live refresh token."""
    clock = ManualClock(10_000.0)
    answer = _endpoint(lambda r: _ok(expires_in=bad), clock).refresh_answer(_old())
    assert answer.token.refresh_token == "RT!new"
    assert answer.token.access_token == "AT-new"
    assert answer.token.expires_at == answer.token.issued_at + 600
    assert answer.anomalies
    assert "expires_in" in answer.anomalies[0]


def test_a_successful_refresh_without_expires_in_is_kept():
    body = {"access_token": "AT-new", "token_type": "bearer", "refresh_token": "RT!new"}
    answer = _endpoint(lambda r: httpx.Response(200, json=body), ManualClock(10_000.0)).refresh_answer(_old())
    assert (answer.token.refresh_token, answer.token.expires_at) == ("RT!new", 10_600.0)
    assert answer.anomalies == ("the answer has no expires_in; assumed 600 s",)


def test_an_odd_token_type_or_a_missing_access_token_keeps_the_refresh_token():
    mac = {"access_token": "a", "refresh_token": "r", "expires_in": "600", "token_type": "mac"}
    answer = _endpoint(lambda r: httpx.Response(200, json=mac)).refresh_answer(_old())
    assert (answer.token.refresh_token, answer.token.token_type) == ("r", "Bearer")
    assert "token_type" in answer.anomalies[0]
    no_access = {"refresh_token": "r", "expires_in": "600"}
    answer = _endpoint(lambda r: httpx.Response(200, json=no_access), ManualClock(10_000.0)).refresh_answer(_old())
    assert answer.token.refresh_token == "r"
    assert answer.token.expires_at == answer.token.issued_at  # stored as expired: workers wait for the next


def _err(status, body, headers=None):
    return lambda request: httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    ("response", "grant", "exc"),
    [
        (
            _err(
                400,
                {"error": "access_denied", "error_description": "Rate limit exceeded: access_token not expired"},
                {"Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"},
            ),
            "refresh",
            errors.TooEarlyToRefresh,
        ),
        (
            _err(401, {"error": "unauthorized_client", "error_description": "Old refresh token used."}),
            "refresh",
            errors.RefreshTokenReused,
        ),
        (
            _err(400, {"error": "invalid_request", "error_description": "The refresh token expired at 10/11/2022"}),
            "refresh",
            errors.RefreshTokenExpired,
        ),
        (_err(400, {"error": "invalid_client"}), "refresh", errors.InvalidClient),
        (_err(400, {"error": "invalid_client"}), "code", errors.InvalidClient),
        (_err(400, {"error": "invalid_grant"}), "code", errors.AuthorizationCodeInvalid),
        (_err(503, {}), "refresh", errors.TokenEndpointError),
    ],
)
def test_refusals_map_to_typed_errors_with_next_steps(response, grant, exc):
    ep = _endpoint(response)
    with pytest.raises(exc) as info:
        ep.refresh(_old()) if grant == "refresh" else ep.exchange_code("c0de!x")
    err = info.value
    assert isinstance(err, AuthenticationError)
    assert "Next:" in str(err)
    assert SECRET not in str(err)
    assert "RT!old" not in str(err)
    assert "c0de!x" not in str(err)


def test_read_timeout_is_refresh_outcome_unknown_and_connect_error_is_unreachable():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(errors.RefreshOutcomeUnknown) as info:
        _endpoint(timeout).refresh(_old(gen=4))
    assert info.value.generation == 4
    assert not info.value.retryable

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(errors.TokenEndpointUnreachable):
        _endpoint(refused).refresh(_old())


def test_non_json_success_is_a_typed_error():
    with pytest.raises(errors.TokenEndpointError):
        _endpoint(lambda r: httpx.Response(200, text="<html>maintenance</html>")).refresh(_old())


def test_authorization_url_has_state_and_force_login():
    ep = _endpoint(lambda r: _ok())
    url = httpx.URL(ep.authorization_url("st4te", force_login=True))
    assert url.path == "/api/oauth2/auth"
    assert dict(url.params) == {
        "client_id": "cid",
        "redirect_uri": "https://app.example/cb",
        "response_type": "code",
        "state": "st4te",
        "force_login": "1",
    }


def test_plain_http_only_for_loopback_and_missing_settings_are_named():
    with pytest.raises(ConfigError, match="loopback"):
        OAuthEndpoint("http://start.exactonline.nl", "c", "s", "https://x/cb")
    OAuthEndpoint("http://127.0.0.1:8080", "c", "s", "https://x/cb").close()
    with pytest.raises(ConfigError, match="EXACT_CLIENT_SECRET"):
        OAuthEndpoint(BASE, "c", "", "https://x/cb")


def test_parse_callback_and_state():
    assert parse_callback("https://app.example/cb?code=XT%21zz&state=abc") == ("XT!zz", "abc")
    assert parse_callback("code=XT!zz") == ("XT!zz", None)
    assert parse_callback("XT%21zz") == ("XT!zz", None)
    with pytest.raises(errors.AuthorizationCodeInvalid, match="access_denied"):
        parse_callback("https://app.example/cb?error=access_denied&state=abc")
    verify_state("abc", "abc")
    with pytest.raises(errors.StateMismatch):
        verify_state("abc", "abd")
    with pytest.raises(errors.StateMismatch):
        verify_state("abc", None)


def test_async_endpoint_refresh():
    async def handler(request):
        assert parse_qs(request.content.decode())["refresh_token"] == ["RT!old"]
        return _ok(expires_in=600)

    async def run():
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncOAuthEndpoint(BASE, "cid", SECRET, "https://x/cb", http_client=http) as ep:
            return await ep.refresh(_old(gen=1))

    token = asyncio.run(run())
    assert token.generation == 2
    assert token.access_token == "AT-new"
    assert json.dumps(token.to_state())  # serializable


@pytest.mark.parametrize(
    ("url", "message"),
    [("start.exactonline.nl", "absolute"), ("ftp://start.exactonline.nl", "scheme"), ("http://10.0.0.1", "loopback")],
)
def test_bad_base_urls_are_named(url, message):
    with pytest.raises(ConfigError, match=message):
        OAuthEndpoint(url, "c", "s", "https://x/cb")


def test_localhost_is_loopback_and_request_repr_hides_the_body():
    ep = OAuthEndpoint("http://localhost:8080/", "cid", SECRET, "https://x/cb")
    request = ep.protocol.refresh_request(_old())
    assert request.url == "http://localhost:8080/api/oauth2/token"
    assert "RT!old" not in repr(request)
    assert SECRET not in repr(request)
    assert SECRET not in repr(ep.protocol)
    ep.close()


@pytest.mark.parametrize(
    ("callback", "message"),
    [("  ", "empty"), ("https://app.example/cb?state=abc", "no `code`")],
)
def test_unusable_callbacks_are_typed(callback, message):
    with pytest.raises(errors.AuthorizationCodeInvalid, match=message):
        parse_callback(callback)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"access_token": "a", "expires_in": "600"}, "refresh_token"),
        ([1, 2], "not JSON"),
    ],
)
def test_malformed_success_bodies_are_typed(body, message):
    with pytest.raises(errors.TokenEndpointError, match=message):
        _endpoint(lambda r: httpx.Response(200, json=body)).refresh(_old())


def test_timed_out_code_exchange_is_outcome_unknown():
    def timeout(request):
        raise httpx.WriteTimeout("slow", request=request)

    with pytest.raises(errors.TokenOutcomeUnknown, match="used only once"):
        _endpoint(timeout).exchange_code("c0de!x")
