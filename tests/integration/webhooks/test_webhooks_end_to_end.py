"""Webhooks end to end: the reconciler subscribes at the emulator, the emulator validates the callback and then
delivers signed events to the receiver Lambda (served as a Function URL on loopback), which verifies them."""

from __future__ import annotations

import threading

from exact_online_sdk.aws.local_url import serve_function_url
from exact_online_sdk.aws.webhook_receiver import WebhookReceiver
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.webhooks import DesiredSubscription, WebhookEvent, reconcile

SECRET = "whsec-e2e-canary-41"
WAIT = 30.0  # real seconds: only a backstop for a send that never comes; nothing here waits on time passing


def test_subscribe_validate_deliver_verify():
    received: list[WebhookEvent] = []
    delivered = threading.Event()

    def sink(event: WebhookEvent) -> None:
        received.append(event)
        delivered.set()

    config = EmulatorConfig(rows=20, webhook_secret=SECRET, webhook_validation_delay=1.0, clock=ManualClock())
    with run_emulator(config) as emu, serve_function_url(WebhookReceiver(SECRET, sink)) as url:
        client = ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001, clock=emu.clock)
        plan = reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        assert len(plan.create) == 1
        # Exact's empty validation POST comes about a second after the subscription, in Exact's time...
        assert emu.control.webhook_log() == []
        emu.clock.advance(1.0)
        # ...and must get a 2xx.
        [validation] = emu.control.wait_for_webhooks(1, timeout=WAIT)
        assert validation["kind"] == "validation"
        assert validation["status"] == 200
        account = client.get("crm/Accounts", {"$top": 1, "$select": "ID"})[0]
        client.put(f"crm/Accounts(guid'{account['ID']}')", {"City": "Zwolle"})
        assert delivered.wait(WAIT)
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
    config = EmulatorConfig(
        rows=5, webhook_secret="the-apps-real-secret", webhook_validation_delay=1.0, clock=ManualClock()
    )
    with run_emulator(config) as emu, serve_function_url(WebhookReceiver(SECRET, received.append)) as url:
        client = ExactOnlineClient(base_url=emu.base_url, access_token=emu.token(), division=1001, clock=emu.clock)
        reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        emu.clock.advance(1.0)
        emu.control.wait_for_webhooks(1, timeout=WAIT)
        account = client.get("crm/Accounts", {"$top": 1, "$select": "ID"})[0]
        client.put(f"crm/Accounts(guid'{account['ID']}')", {"City": "Zwolle"})
        log = emu.control.wait_for_webhooks(2, timeout=WAIT)
    assert [(e["kind"], e["status"]) for e in log] == [("validation", 200), ("delivery", 401)]
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
