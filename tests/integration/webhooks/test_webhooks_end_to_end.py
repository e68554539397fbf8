"""Webhooks end to end: the reconciler subscribes at the emulator, the emulator validates the callback and then
delivers signed events to the receiver Lambda (served as a Function URL on loopback), which verifies them."""

from __future__ import annotations

import time

from exact_online_sdk.aws.local_url import serve_function_url
from exact_online_sdk.aws.webhook_receiver import WebhookReceiver
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.webhooks import DesiredSubscription, WebhookEvent, reconcile

SECRET = "whsec-e2e-canary-41"


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_subscribe_validate_deliver_verify():
    received: list[WebhookEvent] = []
    config = EmulatorConfig(rows=20, webhook_secret=SECRET, webhook_validation_delay=0.2)
    with run_emulator(config) as emu, serve_function_url(WebhookReceiver(SECRET, received.append)) as url:
        client = ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001)
        plan = reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        assert len(plan.create) == 1
        # Exact's empty validation POST arrives about a second later and must get a 2xx.
        assert wait_for(lambda: any(e["kind"] == "validation" for e in emu.control.webhook_log()))
        [validation] = [e for e in emu.control.webhook_log() if e["kind"] == "validation"]
        assert validation["status"] == 200
        account = client.get("crm/Accounts", {"$top": 1, "$select": "ID"})[0]
        client.put(f"crm/Accounts(guid'{account['ID']}')", {"City": "Zwolle"})
        assert wait_for(lambda: received)
        [event] = received
        assert event.topic == "Accounts"
        assert event.division == 1001
        assert event.key == account["ID"]
        assert event.endpoint.endswith(f"crm/Accounts(guid'{account['ID']}')")
        # The record itself is read from the endpoint the event names.
        again = reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        assert again.changes == 0


def test_deliveries_signed_with_another_secret_are_refused():
    received: list[WebhookEvent] = []
    config = EmulatorConfig(rows=5, webhook_secret="the-apps-real-secret", webhook_validation_delay=0.2)
    with run_emulator(config) as emu, serve_function_url(WebhookReceiver(SECRET, received.append)) as url:
        client = ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001)
        reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        assert wait_for(lambda: any(e["kind"] == "validation" for e in emu.control.webhook_log()))
        account = client.get("crm/Accounts", {"$top": 1, "$select": "ID"})[0]
        client.put(f"crm/Accounts(guid'{account['ID']}')", {"City": "Zwolle"})
        assert wait_for(lambda: any(e["kind"] != "validation" for e in emu.control.webhook_log()))
        deliveries = [e for e in emu.control.webhook_log() if e["kind"] != "validation"]
    assert [d["status"] for d in deliveries] == [401]
    assert received == []


def test_dry_run_plans_without_calling_and_the_async_reconciler_applies():
    import asyncio

    from exact_online_sdk.client import AsyncExactOnlineClient
    from exact_online_sdk.webhooks import SUBSCRIPTIONS_PATH, reconcile_async

    url = "https://hooks.example.com/exact"
    with run_emulator(EmulatorConfig(rows=5)) as emu:
        client = ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001)
        plan = reconcile(client, [DesiredSubscription("Items", url)], division=1001, dry_run=True)
        assert [s.topic for s in plan.create] == ["Items"]
        assert list(client.iter_rows(SUBSCRIPTIONS_PATH)) == []

        async def apply():
            async with AsyncExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001) as ac:
                first = await reconcile_async(ac, [DesiredSubscription("Items", url)], division=1001)
                second = await reconcile_async(ac, [DesiredSubscription("Accounts", url)], division=1001)
                return first, second

        first, second = asyncio.run(apply())
        assert (len(first.create), len(first.delete)) == (1, 0)
        assert (len(second.create), len(second.delete)) == (1, 1)
        assert [r["Topic"] for r in client.iter_rows(SUBSCRIPTIONS_PATH)] == ["Accounts"]
