"""Gaps 3, 8 and 10 of issue 13 on the OAuth side: HTTP Basic client authentication, the implicit grant, registered
redirect URIs, and the token endpoint's daily quota and error block (FACTS §1.2, §1.3, §2.4)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client

REDIRECT = "https://app.example.com/callback"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def token(emu: EmulatorHandle, form: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{emu.base_url}/api/oauth2/token", data=form, headers=headers)


def test_basic_client_authentication_for_code_and_refresh(manual_emulator: EmulatorHandle, clock: ManualClock) -> None:
    emu = manual_emulator
    creds = basic(emu.config.client_id, emu.config.client_secret)
    code = emu.control.authorize(redirect_uri=REDIRECT)
    first = token(emu, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}, creds)
    assert first.status_code == 200, first.text
    pair = first.json()
    assert pair["expires_in"] == "600"
    assert api_client(emu, pair["access_token"]).get("/api/v1/current/Me").status_code == 200
    clock.advance(580)
    # requests-oauthlib style: Basic, plus the client id repeated in the body
    again = token(
        emu,
        {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"], "client_id": emu.config.client_id},
        creds,
    )
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] != pair["refresh_token"]


def test_basic_with_a_wrong_secret_or_garbage_is_a_401_challenge(manual_emulator: EmulatorHandle) -> None:
    emu = manual_emulator
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    for headers in (basic(emu.config.client_id, "wrong"), {"Authorization": "Basic !!!"}, basic("nobody", "x")):
        refused = token(emu, form, headers)
        assert refused.status_code == 401
        assert refused.json() == {"error": "invalid_client"}
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
    no_colon = {"Authorization": "Basic " + base64.b64encode(b"just-an-id").decode()}
    assert token(emu, form, no_colon).status_code == 401
    # body credentials that contradict the header: two methods at once
    conflict = token(emu, {**form, "client_secret": "other"}, basic(emu.config.client_id, emu.config.client_secret))
    assert conflict.status_code == 400
    assert conflict.json()["error"] == "invalid_request"


def test_implicit_grant_returns_the_token_in_the_fragment(manual_emulator: EmulatorHandle) -> None:
    emu = manual_emulator
    resp = httpx.get(
        f"{emu.base_url}/api/oauth2/auth",
        params={
            "client_id": emu.config.client_id,
            "redirect_uri": "http://localhost:5173/cb",
            "response_type": "token",
            "state": "s 1",
        },
    )
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert (location.netloc, location.path, location.query) == ("localhost:5173", "/cb", "")
    fragment = parse_qs(location.fragment)
    assert fragment["token_type"] == ["Bearer"]
    assert fragment["expires_in"] == ["600"]
    assert fragment["state"] == ["s 1"]
    assert "refresh_token" not in fragment  # RFC 6749 §4.2.2
    me = api_client(emu, fragment["access_token"][0]).get("/api/v1/current/Me")
    assert me.status_code == 200


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1:8080/callback", True),
        ("http://localhost/cb", True),
        ("http://[::1]:9/cb", True),
        ("https://app.example/callback", True),
        ("https://x.example.org/cb", True),
        ("https://evil.com/callback", False),
        ("https://127.0.0.1.evil.com/cb", False),
        ("javascript:alert(1)", False),
    ],
)
def test_without_registration_codes_go_only_to_loopback_or_reserved_names(
    manual_emulator: EmulatorHandle, uri: str, allowed: bool
) -> None:
    emu = manual_emulator
    resp = httpx.get(
        f"{emu.base_url}/api/oauth2/auth",
        params={"client_id": emu.config.client_id, "redirect_uri": uri, "response_type": "code"},
    )
    assert (resp.status_code == 302) is allowed
    if not allowed:
        assert "does not match the registered one" in resp.text


def test_registered_redirect_uris_are_matched_exactly() -> None:
    with run_emulator(EmulatorConfig(redirect_uris=("https://app.corp.nl/cb",))) as emu:
        params = {"client_id": emu.config.client_id, "response_type": "code"}
        ok = httpx.get(f"{emu.base_url}/api/oauth2/auth", params={**params, "redirect_uri": "https://app.corp.nl/cb"})
        assert ok.status_code == 302
        for other in ("https://app.corp.nl/cb2", "http://127.0.0.1/cb"):
            assert (
                httpx.get(f"{emu.base_url}/api/oauth2/auth", params={**params, "redirect_uri": other}).status_code
                == 400
            )


def test_token_daily_quota_and_error_block_apply_to_the_token_endpoint() -> None:
    clock = ManualClock(1_767_225_600.0)
    with run_emulator(EmulatorConfig(clock=clock, token_daily_limit=3, error_quota=2)) as emu:
        good = {"client_id": emu.config.client_id, "client_secret": emu.config.client_secret}
        bad_grant = {**good, "grant_type": "refresh_token", "refresh_token": "unknown"}
        assert token(emu, bad_grant).status_code == 400
        assert token(emu, bad_grant).status_code == 400
        assert token(emu, bad_grant).status_code == 400  # the third error in the hour
        blocked = token(emu, {**good, "grant_type": "refresh_token", "refresh_token": "x"})
        assert blocked.status_code == 403
        assert blocked.headers["Reason"] == "TooManyErrors"
        assert blocked.json()["error"] == "access_denied"
        assert emu.control.counters()["error_quota_blocked"] == 1
        clock.advance(3601)  # the block lasts an hour
        over = token(emu, bad_grant)  # now the daily quota (3 counted calls today) answers
        assert over.status_code == 400
        assert over.json()["error"] == "access_denied"
        assert over.headers["Reason"] == "TokenRequestLimitExceeded"
        clock.advance(86400)
        assert token(emu, bad_grant).json()["error"] == "invalid_grant"  # a new UTC day, a new quota


def test_the_token_quotas_are_switched_per_run() -> None:
    with run_emulator(EmulatorConfig(clock=ManualClock(), token_daily_limit=None)) as emu:
        form = {
            "client_id": emu.config.client_id,
            "client_secret": emu.config.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": "unknown",
        }
        statuses = {token(emu, form).json()["error"] for _ in range(15)}
        assert statuses == {"invalid_grant"}  # neither the quota nor the error block (off by default) answered
