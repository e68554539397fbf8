"""The authorization-code flow in the cloud: first set-up, and re-consent after a broken token chain.

It runs behind a Lambda Function URL with IAM auth (``lambdas/bootstrap``). A browser cannot follow a redirect to
an IAM-authenticated URL, so the flow takes two signed invocations and the operator's browser in between:

1. ``{"action": "start"}`` answers the authorization URL and a ``state`` that is HMAC-signed by the function and
   expires after ``state_ttl`` seconds (nothing is stored between the two calls);
2. the operator opens the URL, consents, and copies the URL the browser was redirected to;
3. ``{"action": "complete", "callback_url": "..."}`` verifies the state, exchanges the code and writes the token:
   generation 1 into empty slots, or the stored generation + 1 on re-consent (compare-and-swap, so a refresher
   that rotates meanwhile is detected and the write goes on top of its generation).

``{"action": "status"}`` tells the stored generation and its validity, never a token. The state key is derived
from the client secret (so no extra secret is needed); codes, tokens and state signatures are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..auth.errors import (
    OAuthError,
    StateMismatch,
    TokenEndpointError,
    TokenEndpointUnreachable,
    TokenOutcomeUnknown,
)
from ..auth.oauth import parse_callback
from ..auth.store import GenerationConflict, TokenStoreError
from ..auth.timebase import as_server_clock
from ..auth.token import Token, new_chain_id, utc_day
from ..clock import Clock, SystemClock
from ..exceptions import ConfigError
from .slots import SecretsManagerTokenStorage

if TYPE_CHECKING:
    import httpx

    from ..config import Settings

__all__ = [
    "BootstrapFlow",
    "BootstrapStart",
    "CodeExchanger",
    "StateSigner",
    "TokenWritten",
    "flow_from_env",
    "handle_event",
    "state_key_from_client_secret",
]

logger = logging.getLogger("exact_online_sdk.aws.bootstrap")

_STATE_VERSION = "s1"


class CodeExchanger(Protocol):
    """What the flow needs from Exact's token endpoint (``OAuthEndpoint`` fits)."""

    def authorization_url(self, state: str, *, force_login: bool = False) -> str: ...

    def exchange_code(self, code: str) -> Token: ...


def state_key_from_client_secret(client_secret: str) -> bytes:
    """A state-signing key bound to this app (changing the client secret invalidates pending states)."""
    return hmac.new(client_secret.encode(), b"exact-online-toolkit/bootstrap-state/v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class StateSigner:
    """Makes and checks ``state`` values: ``s1.<expiry>.<nonce>.<hmac>``, URL-safe, valid until ``expiry``."""

    def __init__(self, key: bytes, clock: Clock, *, ttl: float = 600.0) -> None:
        if len(key) < 16:
            raise ValueError("the state key must be at least 16 bytes")
        if ttl <= 0:
            raise ValueError("the state lifetime must be positive")
        self._key = key
        self._clock = clock
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"StateSigner(key=***, ttl={self.ttl})"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("utf-8"), hashlib.sha256).digest())

    def issue(self) -> tuple[str, float]:
        """A new state and the epoch second it expires."""
        expires = int(self._clock.now() + self.ttl)
        body = f"{_STATE_VERSION}.{expires}.{_b64(secrets.token_bytes(16))}"
        return f"{body}.{self._mac(body)}", float(expires)

    def verify(self, state: str | None) -> None:
        """Raise :class:`StateMismatch` unless ``state`` was issued here and has not expired."""
        if not state:
            raise StateMismatch("the callback URL has no state: paste the whole URL the browser was sent to")
        body, _, mac = state.rpartition(".")
        parts = body.split(".")
        if (
            len(parts) != 3
            or parts[0] != _STATE_VERSION
            or not hmac.compare_digest(mac.encode(), self._mac(body).encode())
        ):
            raise StateMismatch("the callback's state was not issued by this bootstrap function")
        try:
            expires = int(parts[1])
        except ValueError:  # pragma: no cover - signed by us, so always an integer
            raise StateMismatch() from None
        if self._clock.now() > expires:
            raise StateMismatch(
                "the authorization attempt has expired",
                hint=f"start again with action 'start' and finish within {self.ttl / 60:.0f} minutes",
            )


@dataclass(frozen=True, slots=True)
class BootstrapStart:
    """The answer to ``start``: open ``authorization_url``; ``complete`` with the callback before ``expires_at``."""

    authorization_url: str
    state: str
    expires_at: float

    def __repr__(self) -> str:
        return f"BootstrapStart(expires_at={self.expires_at:.0f})"


@dataclass(frozen=True, slots=True)
class TokenWritten:
    """The answer to ``complete``: what was stored (no token values)."""

    action: str  # "created" (empty slots) or "reconsented"
    generation: int
    replaced_generation: int | None
    slot: str
    expires_at: float


class BootstrapFlow:
    """Start and complete the authorization-code flow; write the token into the slots (see the module doc)."""

    def __init__(
        self,
        store: SecretsManagerTokenStorage,
        endpoint: CodeExchanger,
        *,
        state_key: bytes,
        clock: Clock,
        state_ttl: float = 600.0,
        writer: str = "bootstrap",
        write_attempts: int = 3,
    ) -> None:
        self.store = store
        self.endpoint = endpoint
        self.signer = StateSigner(state_key, clock, ttl=state_ttl)
        self._clock = clock
        self.writer = writer
        self._write_attempts = write_attempts

    def start(self, *, force_login: bool = True) -> BootstrapStart:
        """The authorization URL with a fresh signed state."""
        state, expires = self.signer.issue()
        url = self.endpoint.authorization_url(state, force_login=force_login)
        logger.info("authorization started; the state expires at %.0f", expires)
        return BootstrapStart(url, state, expires)

    def complete(self, callback_url: str) -> TokenWritten:
        """Verify the callback's state, exchange its code (once) and store the token as the next generation."""
        code, state = parse_callback(callback_url)
        self.signer.verify(state)
        token = self.endpoint.exchange_code(code)
        return self._store(token)

    def _store(self, token: Token) -> TokenWritten:
        # A consent starts a new chain: a rescue copy or a refusal recorded for the old one never applies to it.
        chain = token.chain_id or new_chain_id()
        day = utc_day(token.issued_at)
        attempt = 0
        while True:
            attempt += 1
            current = self.store.load(fresh=True)
            expected = current.generation if current is not None else None
            new = token.replace(
                generation=(expected or 0) + 1,
                writer=self.writer,
                chain_id=chain,
                calls_day=day,
                calls_today=(current.calls_on(day) if current is not None else 0) + 1,
            )
            try:
                intent = self.store.save(new, expected_generation=expected)
            except GenerationConflict:
                # The refresher rotated the old chain meanwhile: write on top of its generation.
                if attempt >= self._write_attempts:
                    raise
                logger.warning("the stored generation changed during the bootstrap; writing on top of it")
                continue
            action = "created" if expected is None else "reconsented"
            logger.info("bootstrap stored generation %d in slot %s (%s)", new.generation, intent.slot, action)
            return TokenWritten(action, new.generation, expected, intent.slot, new.expires_at)

    def status(self) -> dict[str, Any]:
        """The stored generation and its timing (no token values)."""
        token = self.store.load(fresh=True)
        if token is None:
            return {"generation": None, "message": "no token stored: run start, then complete"}
        clock = as_server_clock(self._clock)
        clock.adopt(token.clock_offset)
        now = clock.now()
        return {
            "generation": token.generation,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "seconds_left": round(token.expires_in(now), 1),
            "writer": token.writer,
            "token_calls_today": token.calls_on(utc_day(now)),
        }

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Dispatch one request body ``{"action": "start"|"complete"|"status", ...}``; errors propagate."""
        action = request.get("action")
        if action == "start":
            started = self.start(force_login=bool(request.get("force_login", True)))
            return {
                "authorization_url": started.authorization_url,
                "state": started.state,
                "expires_at": started.expires_at,
                "next": "open authorization_url, consent, then call action 'complete' with callback_url set to "
                "the URL the browser was redirected to",
            }
        if action == "complete":
            callback = request.get("callback_url")
            if not isinstance(callback, str) or not callback.strip():
                raise ValueError("action 'complete' needs callback_url: the URL the browser was redirected to")
            written = self.complete(callback)
            return {
                "action": written.action,
                "generation": written.generation,
                "replaced_generation": written.replaced_generation,
                "slot": written.slot,
                "expires_at": written.expires_at,
            }
        if action == "status":
            return self.status()
        raise ValueError(f"unknown action {action!r}: expected 'start', 'complete' or 'status'")


def flow_from_env(
    environ: Settings | Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    secrets_client: Any = None,
    http_client: httpx.Client | None = None,
    state_ttl: float = 600.0,
) -> BootstrapFlow:
    """The flow as the stack configures it, from :class:`~exact_online_sdk.config.Settings` (default: the
    environment): the slots (``EXACT_TOKEN_SECRET_A``/``_B``, written by this flow), the app's credentials
    (:mod:`.app_credentials`, the redirect URI included) and ``EXACT_BASE_URL``."""
    from ..auth._settings import settings_from
    from ..auth.oauth import OAuthEndpoint
    from ._boto import make_secretsmanager_client
    from .app_credentials import load_app_credentials

    settings = settings_from(environ)
    clock = as_server_clock(clock or SystemClock())  # one time base (Exact's) for the endpoint and the flow
    secrets_client = secrets_client or make_secretsmanager_client()
    creds = load_app_credentials(settings, secrets_client)
    if not creds.redirect_uri:
        raise ConfigError(
            'no redirect URI: set EXACT_REDIRECT_URI or "redirect_uri" in the EXACT_CLIENT_SECRET_ARN secret '
            "(it must equal the one registered for the app)",
            variable="EXACT_REDIRECT_URI",
        )
    store = SecretsManagerTokenStorage.from_settings(
        settings, client=secrets_client, clock=clock, writer="bootstrap", writable=True
    )
    endpoint = OAuthEndpoint(
        settings.host,
        creds.client_id,
        creds.client_secret,
        creds.redirect_uri,
        http_client=http_client,
        clock=clock,
        timeout=15.0,
        writer="bootstrap",
    )
    key = state_key_from_client_secret(creds.client_secret)
    return BootstrapFlow(store, endpoint, state_key=key, clock=clock, state_ttl=state_ttl)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, TokenEndpointError | TokenEndpointUnreachable | TokenOutcomeUnknown):
        return 502
    if isinstance(exc, GenerationConflict):
        return 409
    if isinstance(exc, TokenStoreError):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    if isinstance(exc, OAuthError | ValueError):
        return 400
    return 500


def _request_of(event: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The request body and whether ``event`` came through the Function URL (payload format 2.0)."""
    if "requestContext" not in event:
        return dict(event), False  # a direct (SigV4-signed) Invoke with the request as the event
    method = str(event["requestContext"].get("http", {}).get("method", "POST")).upper()
    if method != "POST":
        raise ValueError("only POST is accepted")
    raw = event.get("body") or ""
    data = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode("utf-8")
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        raise ValueError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError('the request body must be a JSON object like {"action": "start"}')
    return body, True


def handle_event(flow: BootstrapFlow | Callable[[], BootstrapFlow], event: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one invocation: a Function URL event gets an HTTP response, a direct invoke a plain dict.

    Errors become ``{"error": <type>, "message": ...}`` (with status 4xx/5xx over the URL); messages never hold
    a code, token or secret.
    """
    via_url = "requestContext" in event
    try:
        request, via_url = _request_of(event)
        runner = flow if isinstance(flow, BootstrapFlow) else flow()
        result, status = runner.handle(request), 200
    except Exception as exc:
        status = _status_of(exc)
        if status == 500 and not isinstance(exc, ConfigError):
            logger.exception("bootstrap failed unexpectedly (%s)", type(exc).__name__)
            message = "internal error; see the function's logs"
        else:
            logger.warning("bootstrap request refused (%s): %s", type(exc).__name__, exc)
            message = str(exc)
        result = {"error": type(exc).__name__, "message": message}
    if not via_url:
        return result
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(result),
    }


def invoke_bootstrap_url(
    url: str,
    request: Mapping[str, Any],
    *,
    region_name: str | None = None,
    timeout: float = 30.0,
    http_client: httpx.Client | None = None,
) -> dict[str, Any]:
    """POST ``request`` to the bootstrap Function URL, signed with SigV4 (service ``lambda``) using the
    default AWS credentials; returns the JSON answer. Raises ``RuntimeError`` naming the error it got back."""
    import boto3
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from ._boto import resolve_region

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError("no AWS credentials found to sign the bootstrap call", variable="AWS_PROFILE")
    body = json.dumps(dict(request)).encode("utf-8")
    signed = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", resolve_region(region_name)).add_auth(signed)
    client = http_client or httpx.Client(timeout=timeout)
    try:
        response = client.post(url, content=body, headers=dict(signed.headers.items()))
    finally:
        if http_client is None:
            client.close()
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        detail = answer.get("message") if isinstance(answer, dict) else response.text[:200]
        raise RuntimeError(f"the bootstrap function answered {response.status_code}: {detail}")
    return answer
