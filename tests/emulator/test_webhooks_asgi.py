from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from exact_online_sdk.emulator import EmulatorConfig, create_app
from exact_online_sdk.emulator.server import EmulatorHandle
from exact_online_sdk.registry import registry

from .conftest import api_client


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(self.rfile.read(length))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_subscription_validation_and_signed_delivery(
    emulator: EmulatorHandle, receiver: tuple[str, list[bytes]]
) -> None:
    url, received = receiver
    client = api_client(emulator)
    sub = client.post("/api/v1/1001/webhooks/WebhookSubscriptions", json={"CallbackURL": url, "Topic": "Accounts"})
    assert sub.status_code == 201
    sub_id = sub.json()["d"]["ID"]
    assert sub.json()["d"]["ClientID"] == emulator.config.client_id
    log = emulator.control.wait_for_webhooks(1)
    assert log[0]["kind"] == "validation"
    assert received[0] == b""
    listed = client.get("/api/v1/1001/webhooks/WebhookSubscriptions").json()["d"]["results"]
    assert [s["ID"] for s in listed] == [sub_id]
    assert (
        client.put(f"/api/v1/1001/webhooks/WebhookSubscriptions(guid'{sub_id}')", json={"Topic": "Items"}).status_code
        == 405
    )

    acct = client.get("/api/v1/1001/crm/Accounts", params={"$top": "1", "$select": "ID"}).json()["d"][0]
    assert client.put(f"/api/v1/1001/crm/Accounts(guid'{acct['ID']}')", json={"Name": "Hooked"}).status_code == 204
    emulator.control.wait_for_webhooks(2)
    raw = received[1]
    match = re.fullmatch(rb'\{"Content":(.*),"HashCode":"([0-9A-F]{64})"\}', raw)
    assert match is not None
    expected = hmac.new(emulator.config.webhook_secret.encode(), match.group(1), hashlib.sha256).hexdigest().upper()
    assert match.group(2).decode() == expected
    content = json.loads(match.group(1))
    assert content["Topic"] == "Accounts"
    assert content["Action"] == "Update"
    assert content["Key"] == acct["ID"]
    assert content["Division"] == 1001
    assert content["ExactOnlineEndpoint"].endswith(f"/api/v1/1001/crm/Accounts(guid'{acct['ID']}')")

    assert client.delete(f"/api/v1/1001/webhooks/WebhookSubscriptions(guid'{sub_id}')").status_code == 204
    assert client.get("/api/v1/1001/webhooks/WebhookSubscriptions").json()["d"]["results"] == []


def test_every_registry_endpoint_answers_in_process() -> None:
    """All 358 endpoints through httpx.ASGITransport: allowed GETs answer 200 (bulk: with $select), others 405."""
    app = create_app(EmulatorConfig(rows=3, minutely_limit=1000))
    token = app.state.control.issue_token()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as c:
            for ep in registry():
                url = ep.url_path(1001)
                if "GET" in ep.methods:
                    params = {"$select": ",".join(ep.keys or [ep.fields[0].name])}
                    resp = await c.get(url, params=params)
                    assert resp.status_code == 200, (ep.path, resp.text)
                    assert isinstance(resp.json()["d"]["results"], list)
                else:
                    assert (await c.get(url)).status_code == 405, ep.path

    asyncio.run(run())
    assert len(registry()) == 358


def test_module_entry_point_prints_base_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exact_online_sdk.emulator", "--port", "0", "--divisions", "7,8"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"EMULATOR_BASE_URL=http://127\.0\.0\.1:\d+", line)
        base = line.split("=", 1)[1]
        for _ in range(100):
            try:
                if httpx.get(f"{base}/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                threading.Event().wait(0.05)
        pair = httpx.post(f"{base}/_emulator/tokens", json={}, headers={"X-Emulator-Control": "1"}).json()
        me = httpx.get(
            f"{base}/api/v1/current/Me",
            headers={"Authorization": f"Bearer {pair['access_token']}", "Accept": "application/json"},
        )
        assert me.json()["d"]["results"][0]["CurrentDivision"] == 7
    finally:
        proc.terminate()
        proc.wait(timeout=10)
