"""A minimal token endpoint for unit tests (httpx.MockTransport handler) with Exact's rotation and 570 s rules."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx

from exact_online_sdk.auth import Token


class FakeExact:
    def __init__(self, clock, *, send_date=True):
        self.clock = clock
        self.send_date = send_date
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.live: dict[str, float] = {}  # refresh token -> issue time of its access token
        self.dead: set[str] = set()
        self.codes = {"c0de!1", "c0de!2"}
        self.calls: list[str] = []
        self.refreshes = 0
        self.reused = 0
        self.too_early = 0
        self.fail_next: Exception | None = None

    def seed(self, generation: int = 1) -> Token:
        """A token pair Exact knows, issued now."""
        with self.lock:
            n = next(self.counter)
            now = self.clock.now()
            self.live[f"RT-{n}"] = now
        return Token(f"AT-{n}", f"RT-{n}", issued_at=now, expires_at=now + 600, generation=generation)

    def handler(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            if isinstance(exc, httpx.ReadTimeout) and form.get("grant_type") == "refresh_token":
                self._rotate(form["refresh_token"])  # Exact processed it, the answer was lost
            # Any other error (a WriteTimeout, a reset before Exact read the body) leaves Exact untouched.
            self.calls.append(f"lost:{form.get('grant_type')}")
            raise exc
        with self.lock:
            self.calls.append(form["grant_type"])
            if form.get("client_secret") != "s3cret":
                return httpx.Response(400, json={"error": "invalid_client"})
            if form["grant_type"] == "authorization_code":
                if form["code"] not in self.codes:
                    return httpx.Response(400, json={"error": "invalid_grant"})
                self.codes.discard(form["code"])
                return self._issue()
            rt = form["refresh_token"]
            if rt in self.dead or rt not in self.live:
                self.reused += 1
                return httpx.Response(
                    401, json={"error": "unauthorized_client", "error_description": "Old refresh token used."}
                )
            if self.clock.now() - self.live[rt] < 570:
                self.too_early += 1
                return httpx.Response(
                    400,
                    json={
                        "error": "access_denied",
                        "error_description": "Rate limit exceeded: access_token not expired",
                    },
                    headers={"Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"},
                )
            self.refreshes += 1
            return self._rotate(rt)

    def _rotate(self, rt: str) -> httpx.Response:
        self.live.pop(rt, None)
        self.dead.add(rt)
        return self._issue()

    def _issue(self) -> httpx.Response:
        n = next(self.counter)
        now = self.clock.now()
        self.live[f"RT-{n}"] = now
        headers = (
            {"Date": format_datetime(datetime.fromtimestamp(int(now), UTC), usegmt=True)} if self.send_date else {}
        )
        body = {"access_token": f"AT-{n}", "token_type": "bearer", "expires_in": "600", "refresh_token": f"RT-{n}"}
        return httpx.Response(200, json=body, headers=headers)
