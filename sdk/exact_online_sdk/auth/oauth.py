"""Exact's OAuth2 token endpoint: a sans-IO core (:class:`OAuthProtocol`) and two thin shells.

- :class:`OAuthEndpoint` (httpx.Client) and :class:`AsyncOAuthEndpoint` (httpx.AsyncClient) expose
  ``exchange_code(code) -> Token`` (generation 1) and ``refresh(token) -> Token`` (generation + 1).
- Times are on Exact's clock (:mod:`.timebase`): every answer's ``Date`` header measures the offset of the
  endpoint's :class:`~.timebase.ServerClock`, and ``issued_at`` is that ``Date`` (Exact counts its 570 s rule
  from its own clock); ``expires_at`` adds ``expires_in``, accepted as a JSON string (what Exact sends) or a
  number.
- A 200 that carries a refresh token is never thrown away: an unreadable ``expires_in`` becomes 600 s, an odd
  ``token_type`` is kept as Bearer, and each oddity is reported in :attr:`TokenAnswer.anomalies` (Exact has
  already rotated; dropping the answer would break the chain).
- Client credentials go in the form body, never in Basic auth (FACTS §1.3).
- Host binding (:mod:`.hosts`): every new token records this endpoint's host, and a token issued by another host
  is never refreshed here (:class:`~.errors.TokenHostMismatch`, before anything is sent).
- Secrets never come back out: the client secret is registered for redaction everywhere
  (:func:`~exact_online_sdk._core.redact.register_secret`), and whatever an answer says (``error``,
  ``error_description``, the ``Reason`` header, an anomaly) is scrubbed of every secret its request sent (code,
  refresh token, client secret, also URL-encoded) and of the tokens it carries, before it reaches an error or a log.
- Failures become the typed errors of :mod:`.errors`. A timeout after the request was sent is
  :class:`~.errors.TokenOutcomeUnknown` (:class:`~.errors.RefreshOutcomeUnknown` for a refresh); the callers
  resend a refresh whose answer was lost exactly once.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit

import httpx

from .._core.body import ACCEPT_ENCODING, BodyReader
from .._core.redact import MASK, register_secret
from .._core.tls import default_ssl_context
from .._http import receive_async, receive_blocking
from ..clock import Clock
from ..exceptions import ConfigError
from .errors import (
    AuthorizationCodeInvalid,
    InvalidClient,
    OAuthError,
    RefreshOutcomeUnknown,
    RefreshTokenExpired,
    RefreshTokenReused,
    StateMismatch,
    TokenEndpointError,
    TokenEndpointUnreachable,
    TokenOutcomeUnknown,
    TooEarlyToRefresh,
)
from .hosts import check_token_host, origin
from .timebase import MAX_PLAUSIBLE_OFFSET, ServerClock, as_server_clock, server_date
from .token import Token, new_chain_id

__all__ = [
    "AUTHORIZE_PATH",
    "DEFAULT_LIFETIME",
    "TOKEN_PATH",
    "AsyncOAuthEndpoint",
    "OAuthEndpoint",
    "OAuthProtocol",
    "TokenAnswer",
    "TokenRequest",
    "parse_callback",
]

log = logging.getLogger("exact_online_sdk.auth.oauth")

AUTHORIZE_PATH = "/api/oauth2/auth"
TOKEN_PATH = "/api/oauth2/token"
DEFAULT_TIMEOUT = 30.0
DEFAULT_LIFETIME = 600.0
TOKEN_ANSWER_BYTES = 1024 * 1024
"""The most of a token answer read, decoded: Exact's are about 2 KB. A compressed bomb stops here (issue 15.4)."""
"""Exact's access-token lifetime; assumed when a successful answer's ``expires_in`` cannot be read."""

Grant = Literal["authorization_code", "refresh_token"]

SECRET_FIELDS = ("code", "refresh_token", "client_secret")
"""The form fields of a token request that hold a secret."""
MIN_SECRET_LENGTH = 6
"""Shorter values are not scrubbed from free text (they would mask ordinary words); Exact's secrets are far longer."""


def check_base_url(base_url: str) -> str:
    """The host URL without a trailing slash; https, or plain http for loopback hosts only."""
    parts = urlsplit(base_url.strip())
    if not parts.scheme or not parts.hostname:
        raise ConfigError(f"base URL {base_url!r} is not an absolute URL", variable="EXACT_BASE_URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            "plain http is allowed only for loopback hosts (the emulator); use https", variable="EXACT_BASE_URL"
        )
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"unsupported scheme {parts.scheme!r} in base URL", variable="EXACT_BASE_URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_callback(callback: str) -> tuple[str, str | None]:
    """``(code, state)`` from a pasted callback URL, a query string, or a bare code (URL-decoded, ``!`` kept).

    An ``error`` in the callback (the user declined) raises :class:`AuthorizationCodeInvalid`.
    """
    text = callback.strip()
    if not text:
        raise AuthorizationCodeInvalid("the callback is empty: paste the whole URL the browser was sent to")
    query = text.split("#", 1)[0].split("?", 1)[1] if "?" in text else text
    if "=" not in query:
        return unquote(text), None  # a bare code, maybe still URL-encoded (%21)
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "error" in params:
        raise AuthorizationCodeInvalid(
            f"the authorization was not granted: {params.get('error_description') or params['error']}",
            oauth_error=params["error"],
        )
    code = params.get("code")
    if not code:
        raise AuthorizationCodeInvalid("the callback has no `code` parameter: paste the whole callback URL")
    return code, params.get("state")


def verify_state(expected: str | None, received: str | None) -> None:
    """Raise :class:`StateMismatch` unless ``received`` equals the ``state`` this flow sent."""
    if not expected or not received or not hmac.compare_digest(expected.encode(), received.encode()):
        raise StateMismatch()


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One POST to the token endpoint: form body with secrets (never log ``content``)."""

    grant: Grant
    url: str
    content: bytes
    headers: Mapping[str, str]
    previous: Token | None = None

    def __repr__(self) -> str:
        return f"TokenRequest(grant={self.grant!r}, url={self.url!r})"

    def sent_secrets(self) -> tuple[str, ...]:
        """The secrets this request sends (code, refresh token, client secret), also in their URL-encoded forms."""
        values = {v for k, v in parse_qsl(self.content.decode("ascii")) if k in SECRET_FIELDS}
        forms = {form for v in values for form in (v, quote_plus(v), quote(v, safe=""))}
        return tuple(sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """A successful token answer: the new token and what was odd about it (empty when all was as expected)."""

    token: Token
    anomalies: tuple[str, ...] = ()


class OAuthProtocol:
    """Sans-IO token-endpoint logic: builds requests and turns responses into a :class:`Token` or an error."""

    def __init__(
        self, base_url: str, client_id: str, client_secret: str, redirect_uri: str, *, writer: str = ""
    ) -> None:
        for name, value in (
            ("EXACT_CLIENT_ID", client_id),
            ("EXACT_CLIENT_SECRET", client_secret),
            ("EXACT_REDIRECT_URI", redirect_uri),
        ):
            if not value:
                raise ConfigError(f"{name} is not set", variable=name)
        self.base_url = check_base_url(base_url)
        self.host = origin(self.base_url)
        """The origin recorded in every token this endpoint issues (see :mod:`.hosts`)."""
        self.client_id = client_id
        self._client_secret = client_secret
        # Masked in every error, log line and repr of the process from now on, whatever echoes it.
        register_secret(client_secret)
        self.redirect_uri = redirect_uri
        self.writer = writer

    def __repr__(self) -> str:
        return f"OAuthProtocol(base_url={self.base_url!r}, client_id={self.client_id!r}, client_secret=***)"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    def authorization_url(self, state: str, *, force_login: bool = False) -> str:
        """The URL to open in a browser (authorization-code flow)."""
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "state": state,
                "force_login": "1" if force_login else "0",
            }
        )
        return f"{self.base_url}{AUTHORIZE_PATH}?{query}"

    def code_request(self, code: str) -> TokenRequest:
        """The exchange of an authorization code (URL-decoded here if it still holds ``%21``)."""
        code = unquote(code.strip())
        if not code:
            raise AuthorizationCodeInvalid("the authorization code is empty")
        return self._request(
            "authorization_code",
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri},
            None,
        )

    def refresh_request(self, token: Token) -> TokenRequest:
        """The rotation of ``token``'s refresh token; a token of another host is refused before anything is sent."""
        check_token_host(token, self.base_url, action="refresh it (sending its refresh token and the client secret) at")
        if not token.refresh_token:
            raise RefreshTokenExpired("the stored token has no refresh token")
        return self._request(
            "refresh_token", {"grant_type": "refresh_token", "refresh_token": token.refresh_token}, token
        )

    def _request(self, grant: Grant, form: dict[str, str], previous: Token | None) -> TokenRequest:
        form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        return TokenRequest(
            grant=grant,
            url=self.token_url,
            content=urlencode(form).encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,  # only what is inflated under TOKEN_ANSWER_BYTES
            },
            previous=previous,
        )

    def transport_error(self, request: TokenRequest, exc: Exception) -> OAuthError:
        """The typed error for a request that got no HTTP answer."""
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if not_sent:
            return TokenEndpointUnreachable(f"could not connect to the token endpoint ({type(exc).__name__})")
        what = f"no answer from the token endpoint ({type(exc).__name__})"
        if request.grant == "refresh_token":
            gen = request.previous.generation if request.previous else None
            return RefreshOutcomeUnknown(what, generation=gen)
        return TokenOutcomeUnknown(what, hint="run the login again: an authorization code can be used only once")

    def parse_response(
        self,
        request: TokenRequest,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        received_at: float,
    ) -> Token:
        """The new :class:`Token`, or the typed error for Exact's answer (anomalies are logged)."""
        return self.parse_answer(request, status, headers, body, received_at=received_at).token

    def parse_answer(
        self,
        request: TokenRequest,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        received_at: float,
    ) -> TokenAnswer:
        """The new token and what was odd about the answer, or the typed error for Exact's answer.

        ``received_at`` is Exact's time of the answer as the caller estimates it; the ``Date`` header wins when
        it is plausible. A refresh generation is the previous + 1 on the same chain; an exchanged code starts a
        new chain (generation 1 here; stores put it on top of what they hold)."""
        if status != 200:
            raise self._error(request, status, headers, body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: a hostile answer nested past the interpreter's limit
            data = None
        if not isinstance(data, dict):
            raise TokenEndpointError("the token endpoint answered 200 with a body that is not JSON")
        if not data.get("refresh_token") or not isinstance(data["refresh_token"], str):
            # Nothing to keep: without a refresh token the chain cannot continue from this answer.
            missing = [k for k in ("access_token", "refresh_token") if not data.get(k)]
            raise TokenEndpointError(f"the token response lacks {', '.join(missing) or 'a usable refresh_token'}")
        anomalies: list[str] = []
        issued_at = _issued_at(headers, received_at)
        try:
            lifetime = _expires_in(data.get("expires_in"))
        except TokenEndpointError as exc:
            anomalies.append(f"{exc.message}; assumed {DEFAULT_LIFETIME:.0f} s")
            lifetime = DEFAULT_LIFETIME
        access = data.get("access_token")
        if not access or not isinstance(access, str):
            anomalies.append("the answer has no access_token; stored as expired so workers wait for the next one")
            access, lifetime = "", 0.0
        token_type = str(data.get("token_type") or "Bearer")
        if token_type.lower() != "bearer":
            anomalies.append(f"unexpected token_type {token_type!r}; kept as Bearer")
        received = (*request.sent_secrets(), *(str(data[k]) for k in ("access_token", "refresh_token") if data.get(k)))
        anomalies = [scrub(anomaly, tuple(sorted(received, key=len, reverse=True))) for anomaly in anomalies]
        for anomaly in anomalies:
            log.error("odd but successful token answer (kept, never dropped): %s", anomaly)
        previous = request.previous
        token = Token(
            access_token=access,
            refresh_token=str(data["refresh_token"]),
            issued_at=issued_at,
            expires_at=issued_at + lifetime,
            generation=1 if previous is None else previous.generation + 1,
            token_type="Bearer",
            writer=self.writer,
            chain_id=new_chain_id() if previous is None else previous.chain_id,
            calls_day=previous.calls_day if previous is not None else "",
            calls_today=previous.calls_today if previous is not None else 0,
            host=self.host,
            # Who consented stays with the chain (a new code's token gets it from the flow that reads it).
            user_id=previous.user_id if previous is not None else "",
            divisions=previous.divisions if previous is not None else (),
        )
        return TokenAnswer(token, tuple(anomalies))

    def _error(self, request: TokenRequest, status: int, headers: Mapping[str, str], body: bytes) -> OAuthError:
        try:
            data = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        # Exact (or anything posing as it) may echo what it was sent: nothing of it reaches the error.
        secrets = request.sent_secrets()
        error = scrub(str(data.get("error") or ""), secrets) or None
        description = scrub(str(data.get("error_description") or ""), secrets)
        raw_reason = headers.get("Reason") or headers.get("reason")
        reason = scrub(raw_reason, secrets) if raw_reason else None
        text = " ".join(x for x in (description, reason or "") if x).lower()
        common: dict[str, Any] = {
            "oauth_error": error,
            "status_code": status,
            "method": "POST",
            "url": request.url,
            "reason": reason,
        }
        message = description or None
        if "tooearlytorefresh" in text or "not expired" in text:
            return TooEarlyToRefresh(message, **common)
        if "old refresh token" in text:
            return RefreshTokenReused(message, **common)
        if error == "invalid_client":
            return InvalidClient(message, **common)
        if status in (400, 401) and request.grant == "authorization_code":
            return AuthorizationCodeInvalid(message, **common)
        if status in (400, 401) and (
            "expired" in text or "revoked" in text or error in ("invalid_grant", "invalid_request")
        ):
            return RefreshTokenExpired(message, **common)
        if status >= 500 or status == 429:
            return TokenEndpointError(message, retryable=True, **common)
        return TokenEndpointError(message, **common)


def _expires_in(value: Any) -> float:
    """``expires_in`` as seconds: Exact sends the string ``"600"``; numbers are accepted too."""
    if value is None or value == "":
        raise TokenEndpointError("the answer has no expires_in")
    if isinstance(value, bool):
        raise TokenEndpointError("expires_in is not a number")
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise TokenEndpointError(f"expires_in {value!r} is not a number") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise TokenEndpointError(f"expires_in {value!r} is not a positive number")
    return seconds


def _issued_at(headers: Mapping[str, str], received_at: float) -> float:
    """When Exact issued the token, on Exact's clock, never earlier than it really did (so the 570 s rule holds):
    the later of the ``Date`` header and ``received_at`` (the caller's estimate of Exact's time at the answer).
    A ``Date`` implausibly far from ``received_at`` is ignored."""
    server = server_date(headers)
    if server is None:
        return received_at
    if abs(server - received_at) > MAX_PLAUSIBLE_OFFSET:
        log.warning("the token endpoint's Date header is %.0f s away from the clock; ignoring it", server - received_at)
        return received_at
    return max(server, received_at)


class _EndpointBase:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        writer: str = "",
    ) -> None:
        self.protocol = OAuthProtocol(base_url, client_id, client_secret, redirect_uri, writer=writer)
        self.clock: ServerClock = as_server_clock(clock)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.protocol.base_url!r}, client_id={self.protocol.client_id!r})"

    def authorization_url(self, state: str, *, force_login: bool = False) -> str:
        """The browser URL for the authorization-code flow."""
        return self.protocol.authorization_url(state, force_login=force_login)

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else max(0.1, min(self.timeout, timeout))

    def _answer(self, request: TokenRequest, response: httpx.Response, body: BodyReader, sent: float) -> TokenAnswer:
        received = self.clock.local.now()
        self.clock.observe(response.headers, sent=sent, received=received)
        if response.status_code == 200 and (body.too_large or body.error):
            # Exact answered (a refresh token is spent) but the answer cannot be read: the same as one not JSON.
            why = f"larger than {TOKEN_ANSWER_BYTES:,} bytes" if body.too_large else str(body.error)
            raise TokenEndpointError(f"the token endpoint answered 200 with a body {why}")
        answer = self.protocol.parse_answer(
            request, response.status_code, response.headers, body.content, received_at=self.clock.now()
        )
        # Readers on the writer's time base use this offset until they measure their own.
        return TokenAnswer(answer.token.replace(clock_offset=round(self.clock.offset, 3)), answer.anomalies)


class OAuthEndpoint(_EndpointBase):
    """Blocking token-endpoint calls over an ``httpx.Client`` (owned when not given)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        writer: str = "",
    ) -> None:
        super().__init__(base_url, client_id, client_secret, redirect_uri, clock=clock, timeout=timeout, writer=writer)
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, verify=default_ssl_context())

    @property
    def http_client(self) -> httpx.Client:
        """The HTTP client the endpoint posts with (its transport serves the API reads of a login, too)."""
        return self._http

    def exchange_code(self, code: str) -> Token:
        """Trade an authorization code (from the callback) for generation 1 of a new chain."""
        return self.send(self.protocol.code_request(code)).token

    def refresh(self, token: Token, *, timeout: float | None = None) -> Token:
        """Rotate ``token``: the answer is generation ``token.generation + 1``; the old refresh token is dead."""
        return self.refresh_answer(token, timeout=timeout).token

    def refresh_answer(self, token: Token, *, timeout: float | None = None) -> TokenAnswer:
        """:meth:`refresh` with the answer's anomalies; ``timeout`` caps this call (seconds)."""
        return self.send(self.protocol.refresh_request(token), timeout=timeout)

    def send(self, request: TokenRequest, *, timeout: float | None = None) -> TokenAnswer:
        """POST one token request and parse the answer."""
        sent = self.clock.local.now()
        http_request = self._http.build_request(
            "POST", request.url, content=request.content, headers=dict(request.headers), timeout=self._timeout(timeout)
        )
        try:
            response, body = receive_blocking(self._http, http_request, TOKEN_ANSWER_BYTES)
        except httpx.TransportError as exc:
            raise self.protocol.transport_error(request, exc) from None
        return self._answer(request, response, body, sent)

    def close(self) -> None:
        """Close the HTTP client if this endpoint created it."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> OAuthEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncOAuthEndpoint(_EndpointBase):
    """The asyncio form of :class:`OAuthEndpoint` over an ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        writer: str = "",
    ) -> None:
        super().__init__(base_url, client_id, client_secret, redirect_uri, clock=clock, timeout=timeout, writer=writer)
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, verify=default_ssl_context())

    async def exchange_code(self, code: str) -> Token:
        """Trade an authorization code for generation 1 of a new chain."""
        return (await self.send(self.protocol.code_request(code))).token

    async def refresh(self, token: Token) -> Token:
        """Rotate ``token`` (generation + 1)."""
        return (await self.refresh_answer(token)).token

    async def refresh_answer(self, token: Token) -> TokenAnswer:
        """:meth:`refresh` with the answer's anomalies."""
        return await self.send(self.protocol.refresh_request(token))

    async def send(self, request: TokenRequest) -> TokenAnswer:
        """POST one token request and parse the answer."""
        sent = self.clock.local.now()
        http_request = self._http.build_request(
            "POST", request.url, content=request.content, headers=dict(request.headers), timeout=self.timeout
        )
        try:
            response, body = await receive_async(self._http, http_request, TOKEN_ANSWER_BYTES)
        except httpx.TransportError as exc:
            raise self.protocol.transport_error(request, exc) from None
        return self._answer(request, response, body, sent)

    async def aclose(self) -> None:
        """Close the HTTP client if this endpoint created it."""
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncOAuthEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
