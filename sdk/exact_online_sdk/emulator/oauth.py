"""Exact's OAuth2 server side: authorization codes, the implicit grant, token pairs, rotation, the 570 s rule and
the daily quota. Clients authenticate at the token endpoint in the body (Exact's documented way) or with HTTP Basic
(RFC 6749 §2.3.1, what the common OAuth libraries send; FACTS §1.3 [O]).

Pure state (no HTTP): the app turns an :class:`OAuthError` into Exact's token-endpoint response. All times read
the injected clock. Tokens never appear in reprs or logs.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlsplit

from ..clock import Clock
from .config import EmulatorConfig
from .exceptions import OAuthError

__all__ = ["AccessGrant", "OAuthError", "OAuthServer", "basic_credentials", "safe_default_redirect"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# RFC 2606 / RFC 6761 names that never resolve to someone's server: a code sent there cannot leak.
_RESERVED = ("example", "example.com", "example.net", "example.org", "test", "invalid", "localhost")


def safe_default_redirect(uri: str) -> bool:
    """A redirect URI the default (unregistered) set-up accepts: a loopback callback (any port, RFC 8252 §7.3) or
    a host under a reserved example/test name."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        return False
    return host in _LOOPBACK or any(host == name or host.endswith("." + name) for name in _RESERVED)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic base64(id:secret)`` -> (id, secret), each form-decoded as RFC 6749 §2.3.1 wants;
    None without a Basic header; OAuthError when it is malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _basic_refused() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _basic_refused()
    return unquote_plus(client_id), unquote_plus(secret)


def _basic_refused() -> OAuthError:
    # RFC 6749 §5.2: a failed Authorization-header authentication is a 401 with a WWW-Authenticate challenge.
    return OAuthError(401, "invalid_client", None, {"WWW-Authenticate": 'Basic realm="Exact Online"'})


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
        """The client exists and ``redirect_uri`` is registered for it (see ``EmulatorConfig.redirect_uris``)."""
        if client_id not in self.config.clients:
            raise OAuthError(400, "invalid_client", f"Client with identifier '{client_id}' not found.")
        if redirect_uri is None:
            return
        registered = self.config.redirect_uris
        if (registered and redirect_uri not in registered) or (
            not registered and not safe_default_redirect(redirect_uri)
        ):
            raise OAuthError(400, "invalid_request", "The redirect URI does not match the registered one.")

    def implicit(self, client_id: str, redirect_uri: str) -> dict[str, str]:
        """The implicit grant (``response_type=token``, FACTS §1.2): an access token, no refresh token."""
        self.check_client(client_id, redirect_uri)
        with self._lock:
            pair = self._issue(client_id, self.clock.now())
            self._refresh.pop(pair.pop("refresh_token"), None)
        return pair

    def authorize(self, client_id: str, redirect_uri: str) -> str:
        """Record consent and return a fresh single-use code (contains ``!``, as Exact's do)."""
        self.check_client(client_id, redirect_uri)
        code = "XTzM!IAAAA" + secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Code(client_id, redirect_uri, self.clock.now())
        return code

    # --- token endpoint ----------------------------------------------------------------------------------

    def token(self, form: dict[str, str], basic: tuple[str, str] | None = None) -> dict[str, str]:
        """Handle one token-endpoint call; returns the success body or raises :class:`OAuthError`.

        ``basic``: the credentials of an ``Authorization: Basic`` header (see :func:`basic_credentials`)."""
        self.counters["token_calls"] += 1
        client_id, _ = self._credentials(form, basic)
        self._count_quota(client_id)
        grant = form.get("grant_type", "")
        if grant == "authorization_code":
            return self._exchange(form, client_id)
        if grant == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""), client_id)
        raise OAuthError(400, "unsupported_grant_type")

    def _credentials(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[str, str]:
        if basic is not None:
            client_id, secret = basic
            # One method per request (RFC 6749 §2.3): body credentials may only repeat the header's.
            if form.get("client_id", client_id) != client_id or form.get("client_secret", secret) != secret:
                raise OAuthError(400, "invalid_request", "Use one client authentication method per request.")
            expected = self.config.clients.get(client_id)
            if expected is None or not secrets.compare_digest(expected, secret):
                raise _basic_refused()
            return client_id, secret
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        expected = self.config.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            raise OAuthError(400, "invalid_client")  # FACTS §1.3 [O]
        return client_id, secret

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
