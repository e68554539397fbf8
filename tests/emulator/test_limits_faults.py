from __future__ import annotations

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import api_client

DAILY = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
MINUTELY = ("X-RateLimit-Minutely-Limit", "X-RateLimit-Minutely-Remaining", "X-RateLimit-Minutely-Reset")


def test_minutely_limit_429_and_clock_aligned_reset() -> None:
    clock = ManualClock(1_767_225_600.0 + 30)  # 2026-01-01T00:00:30Z
    with run_emulator(EmulatorConfig(clock=clock, minutely_limit=3, daily_limit=5)) as emu:
        client = api_client(emu)
        for left in (2, 1, 0):
            ok = client.get("/api/v1/1001/system/Divisions")
            assert ok.status_code == 200
            assert ok.headers["X-RateLimit-Minutely-Remaining"] == str(left)
            assert ok.headers["X-RateLimit-Minutely-Reset"] == str((1_767_225_600 + 60) * 1000)
            assert ok.headers["X-RateLimit-Reset"] == str((1_767_225_600 + 86400) * 1000)
        over = client.get("/api/v1/1001/system/Divisions")
        assert over.status_code == 429
        assert over.content == b""
        assert all(h in over.headers for h in MINUTELY)
        assert not any(h in over.headers for h in DAILY)
        assert emu.control.counters()["rate_limited"] == 1
        other = client.get("/api/v1/1002/system/Divisions")  # limits are per division
        assert other.status_code == 200
        clock.advance(30)  # next minute window
        assert client.get("/api/v1/1001/system/Divisions").status_code == 200
        assert client.get("/api/v1/1001/system/Divisions").status_code == 200
        daily = client.get("/api/v1/1001/system/Divisions")  # 5 counted calls today
        assert daily.status_code == 429
        assert all(h in daily.headers for h in DAILY)
        assert not any(h in daily.headers for h in MINUTELY)
        assert emu.control.calls(division=1001) == 5
        clock.advance(86400)
        client = api_client(emu)  # the old access token expired meanwhile
        assert client.get("/api/v1/1001/system/Divisions").headers["X-RateLimit-Remaining"] == "4"


def test_error_quota_blocks_endpoint() -> None:
    with run_emulator(EmulatorConfig(clock=ManualClock(), error_quota=2)) as emu:
        client = api_client(emu)
        for _ in range(3):
            assert client.get("/api/v1/1001/crm/Accounts", params={"$filter": "Nope eq 1"}).status_code == 400
        blocked = client.get("/api/v1/1001/crm/Accounts")
        assert blocked.status_code == 403
        assert blocked.headers["Reason"] == "TooManyErrors"
        assert client.get("/api/v1/1001/system/Divisions").status_code == 200  # other endpoints still work


def test_faults_latency_status_maintenance(emulator: EmulatorHandle) -> None:
    client = api_client(emulator)
    emulator.control.inject("status", times=2, status=503, path="crm/Accounts")
    assert client.get("/api/v1/1001/crm/Accounts").status_code == 503
    assert client.get("/api/v1/1001/system/Divisions").status_code == 200  # path filter
    assert client.get("/api/v1/1001/crm/Accounts").status_code == 503
    assert client.get("/api/v1/1001/crm/Accounts").status_code == 200
    emulator.control.inject("maintenance")
    page = client.get("/api/v1/1001/crm/Accounts")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    emulator.control.inject("latency", seconds=0.3)
    slow = client.get("/api/v1/1001/system/Divisions")
    assert slow.elapsed.total_seconds() >= 0.3
    emulator.control.inject("latency", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v1/1001/system/Divisions", timeout=0.1)


def test_faults_reset_and_truncate(emulator: EmulatorHandle) -> None:
    client = api_client(emulator)
    emulator.control.inject("reset")
    with pytest.raises(httpx.TransportError):
        client.get("/api/v1/1001/crm/Accounts")
    emulator.control.inject("truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/v1/1001/crm/Accounts")
    assert client.get("/api/v1/1001/crm/Accounts").status_code == 200


def test_token_drop_rotates_then_drops() -> None:
    clock = ManualClock()
    with run_emulator(EmulatorConfig(clock=clock)) as emu:
        pair = emu.control.issue_token()
        clock.advance(580)
        emu.control.inject("token_drop")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
            "client_id": emu.config.client_id,
            "client_secret": emu.config.client_secret,
        }
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{emu.base_url}/api/oauth2/token", data=form)
        # the server rotated: the refresh token the client still holds is now "old"
        retry = httpx.post(f"{emu.base_url}/api/oauth2/token", data=form)
        assert retry.status_code == 401
        assert retry.json()["error_description"] == "Old refresh token used."


def test_control_http_api() -> None:
    # 60x: a token lives 10 real seconds, long enough under a loaded machine, and the clock visibly scaled.
    with run_emulator(EmulatorConfig(clock_scale=60.0)) as emu:
        base = f"{emu.base_url}/_emulator"
        control = httpx.Client(headers={"X-Emulator-Control": "1"})
        info = httpx.get(f"{base}/clock").json()
        assert info["kind"] == "ScaledClock"
        assert info["scale"] == 60.0
        assert {"origin", "real_origin", "now"} <= set(info)
        pair = control.post(f"{base}/tokens", json={}).json()
        assert pair["expires_in"] == "600"
        me = httpx.get(
            f"{emu.base_url}/api/v1/current/Me",
            headers={"Authorization": f"Bearer {pair['access_token']}", "Accept": "application/json"},
        )
        assert me.status_code == 200
        assert control.post(f"{base}/faults", json={"kind": "status", "status": 500}).status_code == 201
        assert control.post(f"{base}/faults", json={"kind": "boom"}).status_code == 400
        assert len(httpx.get(f"{base}/faults").json()) == 1
        assert control.delete(f"{base}/faults", headers={"Content-Type": "application/json"}).status_code == 204
        log = httpx.get(f"{base}/requests").json()
        assert log[-1]["path"] == "/api/v1/current/Me"
        assert log[-1]["status"] == 200
        assert pair["access_token"] not in str(log)
        counters = httpx.get(f"{base}/counters").json()
        assert counters["tokens_issued"] == 1
        assert control.post(f"{base}/clock/advance", json={"seconds": 5}).status_code == 409  # not a ManualClock
        code = control.post(f"{base}/authorize", json={}).json()["code"]
        assert "!" in code
