"""Issue 15.9: local send errors are not sends. A header HTTP cannot carry is refused while the request is built
(typed, never a raw UnicodeEncodeError), and a request the HTTP layer cannot write is reported as "not sent" and
never retried: a POST does not claim it "may have reached Exact", a GET is not tried five times."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import InvalidHeaderError, TransportError

from .conftest import DIVISION, answering

TOKEN = "at-canary-5c1e"


class _Counting(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        body = b'{"d":{"results":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def exact_on_loopback() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 (so httpx's h11 writer runs) that counts the requests reaching it."""
    seen: ClassVar[list[str]] = []
    handler = type("Handler", (_Counting,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join()


def _client(base_url: str, clock: ManualClock, **options: object) -> ExactOnlineClient:
    return ExactOnlineClient(access_token=TOKEN, division=DIVISION, base_url=base_url, clock=clock, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Trace": "a\r\nX-Injected: 1"}, "control characters"),
        ({"X-Trace": "nul\x00"}, "control characters"),
        ({"X-Note": "café"}, "non-ASCII"),
        ({"X Trace": "1"}, "not an HTTP token"),
        ({"Content-Length": "5"}, "set by the client"),
    ],
    ids=["crlf", "nul", "non-ascii", "bad-name", "framing"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_header_is_refused_before_anything_is_sent(
    exact_on_loopback: tuple[str, list[str]], clock: ManualClock, headers: dict[str, str], reason: str, method: str
) -> None:
    base_url, seen = exact_on_loopback
    client = _client(base_url, clock)
    with pytest.raises(InvalidHeaderError, match=reason) as caught:
        client.request(method, "crm/Accounts", headers=headers, json={"Name": "x"} if method == "POST" else None)
    assert seen == []  # nothing reached the server, and nothing was retried
    assert "may have reached" not in str(caught.value)
    for value in headers.values():
        assert value not in str(caught.value)  # a header value may be a secret: never echoed


def test_settings_with_a_non_ascii_user_agent_fail_typed_not_with_unicode_errors(
    exact_on_loopback: tuple[str, list[str]], clock: ManualClock
) -> None:
    base_url, seen = exact_on_loopback
    client = ExactOnlineClient(
        Settings(user_agent="bücher-sync/1"), access_token=TOKEN, division=DIVISION, base_url=base_url, clock=clock
    )
    with pytest.raises(InvalidHeaderError, match=r"'User-Agent'.*non-ASCII"):
        client.get("crm/Accounts")
    assert seen == []


def test_surrounding_whitespace_is_trimmed_not_refused(
    exact_on_loopback: tuple[str, list[str]], clock: ManualClock
) -> None:
    base_url, seen = exact_on_loopback
    _client(base_url, clock).request("GET", "crm/Accounts", headers={"X-Trace": "  abc\t"})
    assert seen == ["GET"]


class _BrokenStore:
    """A token source whose stored token was corrupted (a line break in it)."""

    def get_access_token(self) -> str:
        return TOKEN + "\n"

    def on_unauthorized(self, rejected_token: str) -> str | None:
        return None


def test_a_corrupt_token_is_a_typed_error_that_never_shows_the_token(
    exact_on_loopback: tuple[str, list[str]], clock: ManualClock
) -> None:
    base_url, seen = exact_on_loopback
    client = ExactOnlineClient(auth=_BrokenStore(), division=DIVISION, base_url=base_url, clock=clock)
    for method in ("GET", "POST"):
        with pytest.raises(InvalidHeaderError, match="token store") as caught:
            client.request(method, "crm/Accounts", json={} if method == "POST" else None)
        assert TOKEN not in str(caught.value)
        assert TOKEN not in repr(caught.value)
    assert seen == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_the_http_layer_cannot_write_is_not_sent_and_not_retried(method: str, clock: ManualClock) -> None:
    """Defence in depth: if httpx itself refuses to write the request, that is local, final and not a send."""
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}'")  # h11 quotes the value

    client = answering(refuse, clock=clock)
    with pytest.raises(TransportError) as caught:
        client.request(method, "crm/Accounts", json={"Name": "x"} if method == "POST" else None)
    err = caught.value
    assert len(attempts) == 1  # not retried five times
    assert not err.outcome_unknown
    assert not err.retryable
    assert "not sent" in err.message
    assert "may have reached Exact" not in err.message
    assert TOKEN not in str(err)
