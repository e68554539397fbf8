"""The first login (authorization-code flow) that writes generation 1 into the configured token store.

Two modes, used by ``exact-online auth login`` and ``scripts/bootstrap_auth.py``:

- ``manual``: print the authorization URL, read the callback URL the browser was sent to (pasted by the user).
- ``listener``: a temporary HTTPS server on the redirect URI's loopback host and port
  (``EXACT_LISTENER_CERT_PATH``/``EXACT_LISTENER_KEY_PATH``) catches the callback itself. Each connection does
  its TLS handshake in its own thread under :data:`HANDSHAKE_TIMEOUT` (an idle or plain-TCP connection holds up
  nothing but itself), and a request whose ``state`` is not this login's is answered 400 and ignored: only this
  login's callback ends it.

Both verify ``state`` before the code is exchanged, and fail fast naming any missing configuration. Every
``EXACT_*`` variable is read through :class:`~exact_online_sdk.config.Settings`.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from ..exceptions import ConfigError
from ._settings import settings_from
from .identity import ExactIdentity, check_same_identity, read_identity
from .manager import ExactOnlineAuth, LoginVetter
from .store import TokenStore
from .token import Token

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "listener_login",
    "login_config_problems",
    "manual_login",
    "same_company",
    "storage_from_env",
]

log = logging.getLogger("exact_online_sdk.auth.bootstrap")

HANDSHAKE_TIMEOUT = 10.0
"""Real seconds a connection to the listener gets for its TLS handshake, and then for each read of its request."""


def login_config_problems(
    settings: Settings | None, mode: str, environ: Mapping[str, str] | None = None, *, store_given: bool = False
) -> list[str]:
    """The names of every missing variable for a login in ``mode`` (empty when all is set). ``environ`` (its
    ``EXACT_*`` entries) overrides ``settings`` for the store and listener variables."""
    s = settings_from(settings if environ is None else {**_as_env(settings), **environ})
    missing = [
        name
        for name, value in (
            ("EXACT_CLIENT_ID", s.client_id),
            ("EXACT_CLIENT_SECRET", s.client_secret),
            ("EXACT_REDIRECT_URI", s.redirect_uri),
        )
        if not value
    ]
    if not store_given and not _aws_configured(s):
        if not s.token_path:
            missing.append("EXACT_TOKEN_PATH (or EXACT_TOKEN_SECRET_A/_B for Secrets Manager)")
        if not s.encryption_key and s.token_path:
            missing.append("EXACT_ENCRYPTION_KEY")
    if mode == "listener":
        missing += [
            name
            for name, value in (
                ("EXACT_LISTENER_CERT_PATH", s.listener_cert_path),
                ("EXACT_LISTENER_KEY_PATH", s.listener_key_path),
            )
            if not value
        ]
    return missing


def _as_env(settings: Settings | None) -> dict[str, str]:
    if settings is None:
        return {}
    values: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        values[f"EXACT_{name.upper()}"] = str(raw)
    return values


def _aws_configured(s: Settings) -> bool:
    return bool(s.token_secret or (s.token_secret_a and s.token_secret_b))


def storage_from_env(
    settings: Settings | None, environ: Mapping[str, str] | None = None, *, writable: bool = False
) -> TokenStore:
    """Secrets Manager when ``EXACT_TOKEN_SECRET_A``/``_B`` (or ``EXACT_TOKEN_SECRET``) is set, else the file.

    The slots are read-only unless ``writable`` (only a login writes them; everything else reads): a token
    refreshed by an operator tool and then lost would break the chain."""
    s = settings_from(settings if environ is None else {**_as_env(settings), **environ})
    if _aws_configured(s):
        from ..aws.slots import SecretsManagerTokenStorage

        return SecretsManagerTokenStorage.from_settings(s, writable=writable, writer="login" if writable else "")
    from .file import EncryptedFileTokenStorage

    return EncryptedFileTokenStorage.from_settings(s)


def same_company(auth: ExactOnlineAuth, *, force_new_company: bool = False) -> LoginVetter:
    """A login vetter (:meth:`ExactOnlineAuth.exchange_code`) that reads who consented with the new token
    (``current/Me``, ``system/Divisions``), records it in the token, and refuses a consent by another Exact user,
    or one that cannot reach every division of the stored chain (:class:`~.errors.ConsentMismatch`), unless
    ``force_new_company``."""

    def vet(new: Token, stored: Token | None) -> Token:
        identity = read_identity(auth.base_url, new.access_token, clock=auth.clock)
        replaced = ExactIdentity.of(stored) if stored is not None else None
        if force_new_company:
            if replaced is not None and replaced != identity:
                log.warning("login by another user or company accepted (force_new_company)")
        else:
            check_same_identity(replaced, identity)
        return new.replace(user_id=identity.user_id, divisions=identity.divisions)

    return vet


def manual_login(
    auth: ExactOnlineAuth,
    *,
    read: Callable[[str], str] | None = None,
    show: Callable[[str], None] | None = None,
    force_login: bool = True,
    vet: LoginVetter | None = None,
) -> Token:
    """Print the URL, read the pasted callback URL (``read``/``show`` default to :func:`input`/:func:`print`,
    looked up at call time), verify ``state``, exchange the code and store the token (``vet``: see
    :func:`same_company`)."""
    read = read or input
    show = show or print
    url = auth.authorization_url(force_login=force_login)
    show("Open this URL in a browser, log in and allow access:")
    show(url)
    callback = read("Paste the full URL the browser was redirected to: ")
    return auth.complete_authorization(callback, vet=vet)


class _CallbackServer(ThreadingHTTPServer):
    """Accepts on the plain socket; each connection's TLS handshake runs in that connection's own thread."""

    daemon_threads = True
    block_on_close = False  # closing never waits for a stray connection
    callbacks: queue.Queue[str]
    path_expected: str
    expected_state: str | None = None
    tls: ssl.SSLContext
    handshake_timeout: float = HANDSHAKE_TIMEOUT

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.handshake_timeout)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:  # idle past the timeout, plain HTTP, a port scan: this one only
            log.debug("callback listener: a connection failed its TLS handshake (%s)", type(exc).__name__)
            return
        try:
            _CallbackHandler(connection, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def is_this_login(self, query: str) -> bool:
        """Whether ``query`` carries the ``state`` of the login in progress (compared in constant time)."""
        received = dict(parse_qsl(query, keep_blank_values=True)).get("state")
        expected = self.expected_state
        return bool(expected and received) and hmac.compare_digest(str(expected).encode(), str(received).encode())


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer
    timeout = HANDSHAKE_TIMEOUT  # per read: a connection that stops sending cannot keep its thread

    def do_GET(self) -> None:
        target = urlsplit(self.path)
        if target.path.rstrip("/") != self.server.path_expected.rstrip("/"):
            self._answer(404, "Not the OAuth callback.")
            return
        if not self.server.is_this_login(target.query):
            # An old tab, another login's callback or a forged one: it must not end (or decide) this login.
            log.warning("callback listener: ignored a callback that is not for the login in progress")
            self._answer(400, "This is not the callback of the login in progress; it was ignored.")
            return
        self.server.callbacks.put(self.path)
        self._answer(200, "Exact Online authorization received. You can close this window.")

    def _answer(self, status: int, text: str) -> None:
        body = f"<!DOCTYPE html><html><body><p>{html.escape(text)}</p></body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("callback listener: %s", self.command)  # never the query: it holds the code


def listener_login(
    auth: ExactOnlineAuth,
    *,
    cert_path: str | None = None,
    key_path: str | None = None,
    host: str | None = None,
    port: int | None = None,
    timeout: float = 300.0,
    show: Callable[[str], None] | None = None,
    on_ready: Callable[[str, int], None] | None = None,
    open_browser: bool = False,
    force_login: bool = True,
    vet: LoginVetter | None = None,
) -> Token:
    """Serve the redirect URI over HTTPS on loopback until the callback arrives, then finish the login.

    ``host``/``port`` default to the redirect URI's (``port=0`` picks a free port, for tests);
    ``on_ready(url, port)`` is called once the server listens. ``timeout`` is in real seconds. ``show`` defaults
    to :func:`print` (looked up at call time). Connections that never finish their TLS handshake, and requests
    carrying another ``state``, are dropped without ending the login.
    """
    show = show or print
    settings = settings_from(None) if cert_path is None or key_path is None else None
    cert = cert_path or (str(settings.listener_cert_path) if settings and settings.listener_cert_path else None)
    key = key_path or (str(settings.listener_key_path) if settings and settings.listener_key_path else None)
    missing = [n for n, v in (("EXACT_LISTENER_CERT_PATH", cert), ("EXACT_LISTENER_KEY_PATH", key)) if not v]
    if missing:
        raise ConfigError(f"missing configuration for the listener: {', '.join(missing)}", variable=missing[0])
    assert cert is not None
    assert key is not None
    redirect = urlsplit(auth.redirect_uri or "")
    if redirect.scheme != "https" or not redirect.hostname:
        raise ConfigError("EXACT_REDIRECT_URI must be an https URL for the listener", variable="EXACT_REDIRECT_URI")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the listener certificate/key: {exc}", variable="EXACT_LISTENER_CERT_PATH"
        ) from None
    bind_host = host or ("127.0.0.1" if redirect.hostname == "localhost" else redirect.hostname)
    bind_port = (redirect.port or 443) if port is None else port
    try:
        server = _CallbackServer((bind_host, bind_port), _CallbackHandler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {bind_host}:{bind_port}: {exc.strerror}", variable="EXACT_REDIRECT_URI"
        ) from None
    server.tls = context
    server.callbacks = queue.Queue()
    server.path_expected = redirect.path or "/"
    url = auth.authorization_url(force_login=force_login)
    server.expected_state = auth.pending_state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        show(f"Listening on https://{bind_host}:{server.server_address[1]}{server.path_expected}")
        show("Open this URL in a browser, log in and allow access:")
        show(url)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        if on_ready is not None:
            on_ready(url, int(server.server_address[1]))
        try:
            callback = server.callbacks.get(timeout=timeout)
        except queue.Empty:
            from .errors import AuthorizationCodeInvalid

            raise AuthorizationCodeInvalid(f"no callback arrived within {timeout:.0f} s") from None
        return auth.complete_authorization(callback, vet=vet)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
