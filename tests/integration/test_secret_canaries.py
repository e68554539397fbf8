"""No secret in any log line, exception text or repr, across a whole session on the emulator.

Canaries: the client secret and webhook secret we configure, plus every access token, refresh token and authorization
code the emulator hands out during the session (login, two refreshes, a reused refresh token, an expired token,
API errors). Logging is captured at DEBUG for every logger, third-party ones included.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.auth.manager import ExactOnlineAuth
from exact_online_sdk.auth.memory import MemoryTokenStorage
from exact_online_sdk.auth.oauth import OAuthEndpoint, parse_callback
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.exceptions import ExactOnlineError
from exact_online_sdk.sync import MemoryCursorStore, Sync

CLIENT_ID = "c4a1e0de-0000-4000-8000-00000000c0de"
CLIENT_SECRET = "canary-client-secret-7f3b9"
WEBHOOK_SECRET = "canary-webhook-secret-1d2e"
REDIRECT = "https://app.example.com/callback"


def test_a_full_session_leaks_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    config = EmulatorConfig(
        clients={CLIENT_ID: CLIENT_SECRET},
        webhook_secret=WEBHOOK_SECRET,
        clock=clock,
        rows=80,
        redirect_uris=(REDIRECT,),
    )
    texts: list[str] = []
    secrets = {CLIENT_SECRET, WEBHOOK_SECRET}
    with run_emulator(config) as emu:
        settings = Settings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=REDIRECT,
            base_url=emu.base_url,
            division=1001,
            webhook_secret=WEBHOOK_SECRET,
        )
        store = MemoryTokenStorage()
        auth = ExactOnlineAuth(settings, storage=store, clock=clock)
        login = auth.authorization_url()
        callback = httpx.get(login, follow_redirects=False).headers["location"]
        code, _ = parse_callback(callback)
        secrets.add(code)
        token = auth.complete_authorization(callback)
        secrets |= {token.access_token, token.refresh_token}

        client = ExactOnlineClient(settings=settings, auth=auth, clock=clock)
        texts += [repr(settings), str(settings), repr(auth), repr(store), repr(client), repr(token), str(token)]
        list(client.iter_rows("crm/Accounts", {"$select": "ID,Name"}))
        Sync(client, ["sync/CRM/Accounts"], cursor_store=MemoryCursorStore(), select=["ID", "Timestamp"]).run(
            lambda batch: None
        )

        for _ in range(2):  # two rotations, each inside Exact's window
            clock.advance(580)
            client.get("current/Me")
            current = store.load()
            assert current is not None
            secrets |= {current.access_token, current.refresh_token}
        assert store.load().generation == 3

        failures: list[BaseException] = []
        for action in (
            lambda: client.get("crm/DoesNotExist"),
            lambda: client.post("crm/Accounts", {"Nope": 1}),
            lambda: ExactOnlineClient(base_url=emu.base_url, access_token=token.access_token, division=1001).get(
                "current/Me"
            ),  # an old, expired access token: 401
            lambda: OAuthEndpoint(emu.base_url, CLIENT_ID, CLIENT_SECRET, REDIRECT, clock=clock).refresh(token),
            lambda: OAuthEndpoint(emu.base_url, CLIENT_ID, "wrong-secret", REDIRECT, clock=clock).exchange_code(code),
        ):
            with pytest.raises(ExactOnlineError) as info:
                action()
            failures.append(info.value)
        texts += [str(e) for e in failures] + [repr(e) for e in failures]
        texts += [str(getattr(e, "context", "")) for e in failures]

    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    leaked = sorted({s[:6] + "..." for s in secrets for text in texts if s and s in text})
    assert leaked == [], f"secrets leaked: {leaked}"
    assert len(caplog.records) > 20  # the session really logged (DEBUG lines per request)
