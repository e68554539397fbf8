"""Gap 10 of issue 13: a safe local service. Only known ``Host`` names (DNS rebinding), control calls that change
state need a JSON body and a custom header (no cross-site form can send them), codes go only to registered
redirect URIs (see test_oauth_clients), webhook callbacks only to known hosts."""

from __future__ import annotations

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.server import EmulatorHandle

from .conftest import CONTROL, api_client, error


@pytest.mark.parametrize("host", ["evil.example.com", "attacker.test:8901", "192.168.1.10"])
def test_foreign_host_names_are_refused_everywhere(emulator: EmulatorHandle, host: str) -> None:
    for path in ("/_emulator/counters", "/api/v1/current/Me", "/api/oauth2/token"):
        resp = httpx.get(f"{emulator.base_url}{path}", headers={"Host": host})
        assert resp.status_code == 403
        assert "Host" in resp.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8901", "[::1]:8901"])
def test_loopback_names_are_served(emulator: EmulatorHandle, host: str) -> None:
    assert httpx.get(f"{emulator.base_url}/_emulator/health", headers={"Host": host}).status_code == 200


def test_extra_host_names_are_configured() -> None:
    with run_emulator(EmulatorConfig(allowed_hosts=("emulator",))) as emu:
        assert httpx.get(f"{emu.base_url}/_emulator/health", headers={"Host": "emulator:8901"}).status_code == 200
        assert httpx.get(f"{emu.base_url}/_emulator/health", headers={"Host": "other"}).status_code == 403
    with run_emulator(EmulatorConfig(allowed_hosts=("*",))) as emu:
        assert httpx.get(f"{emu.base_url}/_emulator/health", headers={"Host": "anything"}).status_code == 200


def test_cross_site_control_posts_are_refused(emulator: EmulatorHandle) -> None:
    base = f"{emulator.base_url}/_emulator"
    # what an HTML form or a "simple" fetch from another site can send: no custom header, text/plain or a form
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, CONTROL):
        refused = httpx.post(f"{base}/tokens", content=b"{}", headers=headers)
        assert refused.status_code == 403
        assert "X-Emulator-Control" in refused.json()["error"]
    assert httpx.post(f"{base}/tokens", json={}).status_code == 403  # JSON alone is not enough
    assert httpx.delete(f"{base}/faults").status_code == 403
    assert httpx.post(f"{base}/tokens", json={}, headers=CONTROL).status_code == 201
    assert httpx.get(f"{base}/counters").status_code == 200  # reads stay plain GETs
    assert emulator.control.counters()["tokens_issued"] == 1


@pytest.mark.parametrize(
    ("callback", "allowed"),
    [
        ("http://127.0.0.1:9/hook", True),
        ("https://hooks.example.com/exact", True),  # a reserved name: nobody's server
        ("https://hooks.corp.com/exact", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("http://10.0.0.5/internal", False),
    ],
)
def test_webhook_callbacks_only_to_known_hosts(emulator: EmulatorHandle, callback: str, allowed: bool) -> None:
    client = api_client(emulator)
    resp = client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json={"CallbackURL": callback, "Topic": "Items"})
    if allowed:
        assert resp.status_code == 201
    else:
        assert error(resp) == "CallbackURL must be on the domain of the app's redirect URL."


def test_webhook_callbacks_on_the_redirect_domain_or_configured_hosts() -> None:
    config = EmulatorConfig(redirect_uris=("https://app.corp.nl/cb",), webhook_hosts=("hooks.corp.nl",))
    with run_emulator(config) as emu, api_client(emu) as client:
        for url in ("https://app.corp.nl/hook", "https://hooks.corp.nl/exact"):
            body = {"CallbackURL": url, "Topic": "Items"}
            assert client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json=body).status_code == 201
        body = {"CallbackURL": "https://corp.nl/hook", "Topic": "Items"}
        assert client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json=body).status_code == 400
