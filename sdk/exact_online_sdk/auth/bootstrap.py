"""The first login (authorization-code flow) that writes generation 1 into the configured token store.

Two modes, used by ``exact-online auth login`` and ``scripts/bootstrap_auth.py``:

- ``manual``: print the authorization URL, read the callback URL the browser was sent to (pasted by the user).
- ``listener``: a temporary HTTPS server on the redirect URI's loopback host and port
  (``EXACT_LISTENER_CERT_PATH``/``EXACT_LISTENER_KEY_PATH``) catches the callback itself.

Both verify ``state`` before the code is exchanged, and fail fast naming any missing configuration. Every
``EXACT_*`` variable is read through :class:`~exact_online_sdk.config.Settings`.
"""

from __future__ import annotations

import html
import logging
import queue
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..exceptions import ConfigError
from ._settings import settings_from
from .manager import ExactOnlineAuth
from .store import TokenStore
from .token import Token

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["listener_login", "login_config_problems", "manual_login", "storage_from_env"]

log = logging.getLogger("exact_online_sdk.auth.bootstrap")


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


def manual_login(
    auth: ExactOnlineAuth,
    *,
    read: Callable[[str], str] | None = None,
    show: Callable[[str], None] | None = None,
    force_login: bool = True,
) -> Token:
    """Print the URL, read the pasted callback URL (``read``/``show`` default to :func:`input`/:func:`print`,
    looked up at call time), verify ``state``, exchange the code and store the token."""
    read = read or input
    show = show or print
    url = auth.authorization_url(force_login=force_login)
    show("Open this URL in a browser, log in and allow access:")
    show(url)
    callback = read("Paste the full URL the browser was redirected to: ")
    return auth.complete_authorization(callback)


class _CallbackServer(ThreadingHTTPServer):
    daemon_threads = True
    callbacks: queue.Queue[str]
    path_expected: str


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        target = urlsplit(self.path)
        if target.path.rstrip("/") != self.server.path_expected.rstrip("/"):
            self._answer(404, "Not the OAuth callback.")
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
) -> Token:
    """Serve the redirect URI over HTTPS on loopback until the callback arrives, then finish the login.

    ``host``/``port`` default to the redirect URI's (``port=0`` picks a free port, for tests);
    ``on_ready(url, port)`` is called once the server listens. ``timeout`` is in real seconds. ``show`` defaults
    to :func:`print` (looked up at call time).
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
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.callbacks = queue.Queue()
    server.path_expected = redirect.path or "/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = auth.authorization_url(force_login=force_login)
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
        return auth.complete_authorization(callback)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
