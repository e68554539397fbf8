"""Exact's OAuth2 server side: authorization codes, token pairs, rotation, the 570 s rule and the daily quota.

Pure state (no HTTP): the app turns an :class:`OAuthError` into Exact's token-endpoint response. All times read
the injected clock. Tokens never appear in reprs or logs.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..clock import Clock
from .config import EmulatorConfig
from .exceptions import OAuthError

__all__ = ["AccessGrant", "OAuthError", "OAuthServer"]


@dataclass
class AccessGrant:
    """What an access token allows: the app, the user's divisions, and when it expires."""

    client_id: str
    issued: float
    expires: float
    refresh: _Refresh | None = field(default=None, repr=False)


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    issued: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    issued: float
    expires: float
    access_issued: float
    rotated: bool = False
    successor: _Refresh | None = None
    successor_used: bool = False


def _fmt(ts: float) -> str:
    # Exact's wording: "10/11/2022 9:18:20 PM"
    d = datetime.fromtimestamp(ts, UTC)
    hour = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


class OAuthServer:
    """Codes and tokens of every client. Thread-safe."""

    def __init__(self, config: EmulatorConfig, clock: Clock, counters: dict[str, int]) -> None:
        self.config = config
        self.clock = clock
        self.counters = counters
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._token_calls: dict[tuple[str, int], int] = {}

    # --- authorization ---------------------------------------------------------------------------------

    def check_client(self, client_id: str, redirect_uri: str | None) -> None:
        if client_id not in self.config.clients:
            raise OAuthError(400, "invalid_client", f"Client with identifier '{client_id}' not found.")
        allowed = self.config.redirect_uris
        if redirect_uri is not None and allowed and redirect_uri not in allowed:
            raise OAuthError(400, "invalid_request", "The redirect URI does not match the registered one.")

    def authorize(self, client_id: str, redirect_uri: str) -> str:
        """Record consent and return a fresh single-use code (contains ``!``, as Exact's do)."""
        self.check_client(client_id, redirect_uri)
        code = "XTzM!IAAAA" + secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Code(client_id, redirect_uri, self.clock.now())
        return code

    # --- token endpoint ----------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, str]:
        """Handle one token-endpoint call; returns the success body or raises :class:`OAuthError`."""
        self.counters["token_calls"] += 1
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        expected = self.config.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            raise OAuthError(400, "invalid_client")
        self._count_quota(client_id)
        grant = form.get("grant_type", "")
        if grant == "authorization_code":
            return self._exchange(form, client_id)
        if grant == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""), client_id)
        raise OAuthError(400, "unsupported_grant_type")

    def _count_quota(self, client_id: str) -> None:
        limit = self.config.token_daily_limit
        day = int(self.clock.now() // 86400)
        with self._lock:
            used = self._token_calls.get((client_id, day), 0) + 1
            self._token_calls[(client_id, day)] = used
        if limit is not None and used > limit:
            # [U] Exact's answer to the 200-per-day token quota was never captured.
            raise OAuthError(
                400,
                "access_denied",
                "Rate limit exceeded: daily token request limit",
                {"Reason": "TokenRequestLimitExceeded"},
            )

    def _exchange(self, form: dict[str, str], client_id: str) -> dict[str, str]:
        now = self.clock.now()
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None or code.used or code.client_id != client_id:
                # [U] the body for a reused or unknown code was never captured.
                raise OAuthError(400, "invalid_grant", "The authorization code is invalid or has been used.")
            code.used = True
            if now - code.issued > self.config.code_lifetime:
                raise OAuthError(400, "invalid_grant", "The authorization code has expired.")
            if form.get("redirect_uri", code.redirect_uri) != code.redirect_uri:
                raise OAuthError(400, "invalid_grant", "The redirect URI does not match the authorization request.")
            return self._issue(client_id, now)

    def _refresh_grant(self, token: str, client_id: str) -> dict[str, str]:
        now = self.clock.now()
        cfg = self.config
        with self._lock:
            rec = self._refresh.get(token)
            if rec is None or rec.client_id != client_id:
                self.counters["rejected_refresh_tokens"] += 1
                raise OAuthError(400, "invalid_grant", "The refresh token is invalid.")
            if rec.rotated and not (cfg.old_refresh_token_grace and not rec.successor_used):
                self.counters["rejected_refresh_tokens"] += 1
                raise OAuthError(401, "unauthorized_client", "Old refresh token used.")
            if now >= rec.expires:
                self.counters["rejected_refresh_tokens"] += 1
                raise OAuthError(
                    400,
                    "invalid_request",
                    f"The refresh token expired at {_fmt(rec.expires)} and it is now {_fmt(now)}.",
                )
            if now - rec.access_issued < cfg.token_lifetime - cfg.refresh_window:
                self.counters["early_refreshes"] += 1
                if cfg.early_refresh_consumes_token:
                    rec.rotated = True
                raise OAuthError(
                    400,
                    "access_denied",
                    "Rate limit exceeded: access_token not expired",
                    {"Reason": "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"},
                )
            if rec.rotated and rec.successor is not None:
                # grace mode: the old token is reused before its successor was; the successor dies instead
                rec.successor.rotated = True
            rec.rotated = True
            self.counters["refreshes"] += 1
            body = self._issue(client_id, now)
            rec.successor = self._refresh[body["refresh_token"]]
            return body

    def _issue(self, client_id: str, now: float) -> dict[str, str]:
        cfg = self.config
        access = "AAEAA" + secrets.token_urlsafe(96)
        refresh = "Gcp7!IAAAA" + secrets.token_urlsafe(64)
        rec = _Refresh(client_id, now, now + cfg.refresh_token_lifetime, now)
        self._refresh[refresh] = rec
        self._access[access] = AccessGrant(client_id, now, now + cfg.token_lifetime, rec)
        self.counters["tokens_issued"] += 1
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": str(round(cfg.token_lifetime)),
            "refresh_token": refresh,
        }

    def issue(self, client_id: str) -> dict[str, str]:
        """Mint a token pair directly, as if the authorization-code flow had just run."""
        self.check_client(client_id, None)
        with self._lock:
            return self._issue(client_id, self.clock.now())

    # --- bearer check --------------------------------------------------------------------------------------

    def grant_for(self, access_token: str) -> AccessGrant | None:
        """The grant of a valid, unexpired access token, else None."""
        grant = self._access.get(access_token)
        if grant is None or self.clock.now() >= grant.expires:
            return None
        if self.config.old_refresh_token_grace and grant.refresh is not None:
            # the pair's refresh token is now "used": in grace mode its predecessor dies here
            for rec in self._refresh.values():
                if rec.successor is grant.refresh and not rec.successor_used:
                    rec.successor_used = True
        return grant

    def expire_access_tokens(self) -> None:
        """Expire every access token now (for tests)."""
        with self._lock:
            now = self.clock.now()
            for grant in self._access.values():
                grant.expires = min(grant.expires, now)
