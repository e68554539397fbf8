"""No secret in any log line, exception text or repr, across a whole session on the emulator.

Canaries: the client secret and webhook secret we configure, plus every access token, refresh token and authorization
code the emulator hands out during the session (login, two refreshes, a reused refresh token, an expired token,
API errors). Logging is captured at DEBUG for every logger, third-party ones included.

Then a token endpoint that echoes what it was sent (issue 15.11): its ``error``, ``error_description``, ``Reason``
header and odd 200 answers repeat the refresh token, the code and the client secret, raw and URL-encoded; none of
them may reach an error, a repr or a log line, through any path of the OAuth code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.auth.manager import ExactOnlineAuth
from exact_online_sdk.auth.memory import MemoryTokenStorage
from exact_online_sdk.auth.oauth import AsyncOAuthEndpoint, OAuthEndpoint, parse_callback
from exact_online_sdk.auth.token import Token
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


# --- a token endpoint that repeats what it was sent --------------------------------------------------------------

ECHO_SECRET = "echo-canary-client-secret-5e1f"
ECHO_REFRESH = "Gcp7!IAAA-echo-canary-refresh+/="  # Exact's refresh tokens carry ! + / =
ECHO_CODE = "stampNL001.echo!canary-code"


class EchoingTokenEndpoint(BaseHTTPRequestHandler):
    """Answers every token request by repeating its secrets back: in ``error``, ``error_description`` and the
    ``Reason`` header, or in the fields of an odd 200 answer (``mode = "odd_success"``)."""

    mode = "refuse"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = dict(parse_qsl(body))
        sent = [form.get(k, "") for k in ("refresh_token", "code", "client_secret")]
        echoed = " ".join(f"{v} ({quote(v, safe='')})" for v in sent if v)
        if self.mode == "odd_success":
            answer = {
                "access_token": "AAEAecho-new-access",
                "refresh_token": "Gcp7!echo-new-refresh",
                "token_type": f"weird {echoed}",
                "expires_in": f"soon {echoed}",
            }
            self._send(200, answer, reason=None)
        else:
            error = next(v for v in sent if v)  # the refresh token or the code as the error code itself
            self._send(400, {"error": error, "error_description": f"invalid_grant: not accepted: {echoed}"}, echoed)

    def _send(self, status: int, answer: dict[str, str], reason: str | None) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if reason:
            self.send_header("Reason", reason)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echoing() -> Iterator[tuple[str, type[EchoingTokenEndpoint]]]:
    class Handler(EchoingTokenEndpoint):
        pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_endpoint_that_echoes_secrets_leaks_none(echoing, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    base_url, handler = echoing
    clock = ManualClock(1_767_225_600.0)
    stored = Token("AAEAecho-old-access", ECHO_REFRESH, clock.now() - 700, clock.now() - 100, host=base_url)
    store = MemoryTokenStorage()
    store.save(stored, expected_generation=None)
    auth = ExactOnlineAuth(
        storage=store,
        base_url=base_url,
        client_id=CLIENT_ID,
        client_secret=ECHO_SECRET,
        redirect_uri=REDIRECT,
        clock=clock,
    )
    endpoint = OAuthEndpoint(base_url, CLIENT_ID, ECHO_SECRET, REDIRECT, clock=clock)

    async def async_refresh() -> None:
        async with AsyncOAuthEndpoint(base_url, CLIENT_ID, ECHO_SECRET, REDIRECT, clock=clock) as ae:
            await ae.refresh(stored)

    failing: list[Callable[[], object]] = [
        lambda: endpoint.refresh(stored),
        lambda: endpoint.exchange_code(ECHO_CODE),
        lambda: endpoint.exchange_code(quote(ECHO_CODE, safe="")),  # pasted still URL-encoded
        lambda: auth.refresh(force=True),
        lambda: auth.exchange_code(ECHO_CODE),
        lambda: asyncio.run(async_refresh()),
    ]
    texts: list[str] = []
    for action in failing:
        with pytest.raises(ExactOnlineError) as info:
            action()
        exc = info.value
        texts += [str(exc), repr(exc), repr(exc.args), str(vars(exc))]
    assert any("not accepted" in text for text in texts)  # Exact's words are kept, only the secrets go

    handler.mode = "odd_success"  # kept (never dropped), its oddities logged
    kept = endpoint.refresh(stored)
    assert kept.refresh_token == "Gcp7!echo-new-refresh"
    # Every log line but httpcore's DEBUG trace, which prints response headers as received: an endpoint that puts a
    # secret in its own header shows it there whatever the SDK does (docs/security.md: keep httpcore off DEBUG).
    texts += [caplog.handler.format(r) for r in caplog.records if not r.name.startswith("httpcore")]
    assert any("odd but successful" in record.getMessage() for record in caplog.records)
    endpoint.close()
    auth.close()

    secrets = [ECHO_SECRET, ECHO_REFRESH, ECHO_CODE, "Gcp7!echo-new-refresh", "AAEAecho-new-access"]
    forms = {form for secret in secrets for form in (secret, quote(secret, safe=""))}
    leaked = sorted({form for form in forms for text in texts if form in text})
    assert leaked == [], f"secrets leaked: {leaked}"
