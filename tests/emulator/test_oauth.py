from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client

REDIRECT = "https://app.example.com/callback"


def _token(handle: EmulatorHandle, **form: str) -> httpx.Response:
    data = {"client_id": handle.config.client_id, "client_secret": handle.config.client_secret, **form}
    return httpx.post(f"{handle.base_url}/api/oauth2/token", data=data)


def test_authorize_redirects_with_code_and_state_then_code_exchange(manual_emulator: EmulatorHandle) -> None:
    emu = manual_emulator
    resp = httpx.get(
        f"{emu.base_url}/api/oauth2/auth",
        params={
            "client_id": emu.config.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "state": "xyz 1",
            "force_login": "0",
        },
    )
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz 1"]
    code = query["code"][0]
    assert "!" in code
    assert "%21" in resp.headers["location"]

    body = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert body.status_code == 200
    pair = body.json()
    assert pair["expires_in"] == "600"
    assert pair["token_type"].lower() == "bearer"
    assert "!" in pair["refresh_token"]
    me = api_client(emu, pair["access_token"]).get("/api/v1/current/Me")
    assert me.status_code == 200
    assert me.json()["d"]["results"][0]["CurrentDivision"] == emu.config.divisions[0]

    # single use
    again = _token(emu, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_code_expires_after_three_minutes(manual_emulator: EmulatorHandle, clock: ManualClock) -> None:
    code = manual_emulator.control.authorize(redirect_uri=REDIRECT)
    clock.advance(181)
    resp = _token(manual_emulator, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert resp.status_code == 400


def test_unknown_client_and_bad_secret(manual_emulator: EmulatorHandle) -> None:
    resp = httpx.post(
        f"{manual_emulator.base_url}/api/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nope", "client_secret": "s"},
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_client"}
    resp = _token(manual_emulator, grant_type="refresh_token", refresh_token="x", client_secret="wrong")
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_client"}
    auth = httpx.get(
        f"{manual_emulator.base_url}/api/oauth2/auth",
        params={"client_id": "nope", "redirect_uri": REDIRECT, "response_type": "code"},
    )
    assert auth.status_code == 400
    assert "Client with identifier 'nope' not found." in auth.text


def test_refresh_rules_early_rotation_old_token(manual_emulator: EmulatorHandle, clock: ManualClock) -> None:
    emu = manual_emulator
    pair = emu.control.issue_token()
    early = _token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert early.status_code == 400
    assert early.json()["error"] == "access_denied"
    assert early.headers["Reason"].startswith("TooEarlyToRefreshTokens")
    clock.advance(569)
    assert _token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 400
    clock.advance(1)  # 570 s: allowed; the early attempts did not burn the token
    new = _token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert new.status_code == 200
    fresh = new.json()
    assert fresh["refresh_token"] != pair["refresh_token"]
    old = _token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert old.status_code == 401
    assert old.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    counters = emu.control.counters()
    assert counters["refreshes"] == 1
    assert counters["rejected_refresh_tokens"] == 1
    assert counters["early_refreshes"] == 2


def test_access_token_expires_and_refresh_token_dies_after_30_days(
    manual_emulator: EmulatorHandle, clock: ManualClock
) -> None:
    emu = manual_emulator
    pair = emu.control.issue_token()
    client = api_client(emu, pair["access_token"])
    assert client.get("/api/v1/current/Me").status_code == 200
    clock.advance(600)
    expired = client.get("/api/v1/current/Me")
    assert expired.status_code == 401
    assert expired.content == b""
    assert api_client(emu, "garbage").get("/api/v1/current/Me").status_code == 401
    clock.advance(30 * 86400)
    resp = _token(emu, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert resp.json()["error_description"].startswith("The refresh token expired at ")


def test_token_daily_quota() -> None:
    with run_emulator(EmulatorConfig(clock=ManualClock(), token_daily_limit=2)) as emu:
        for _ in range(2):
            assert _token(emu, grant_type="refresh_token", refresh_token="unknown").status_code == 400
        over = _token(emu, grant_type="refresh_token", refresh_token="unknown")
        assert over.status_code == 400
        assert over.json()["error"] == "access_denied"
        assert "Reason" in over.headers


def test_consent_page_without_auto_consent() -> None:
    with run_emulator(EmulatorConfig(auto_consent=False, redirect_uris=(REDIRECT,))) as emu:
        params = {"client_id": emu.config.client_id, "redirect_uri": REDIRECT, "response_type": "code", "state": "s"}
        page = httpx.get(f"{emu.base_url}/api/oauth2/auth", params=params)
        assert page.status_code == 200
        assert "<form" in page.text
        allow = httpx.post(f"{emu.base_url}/api/oauth2/auth", data={**params, "consent": "allow"})
        assert allow.status_code == 302
        assert "code=" in allow.headers["location"]
        wrong = httpx.get(f"{emu.base_url}/api/oauth2/auth", params={**params, "redirect_uri": "https://evil/"})
        assert wrong.status_code == 400
