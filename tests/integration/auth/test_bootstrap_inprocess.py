"""The bootstrap helpers in-process against the emulator: manual paste and the HTTPS listener (trustme cert)."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest
import trustme

from exact_online_sdk.auth import MemoryTokenStorage, StateMismatch
from exact_online_sdk.auth.bootstrap import listener_login, login_config_problems, manual_login
from exact_online_sdk.auth.errors import AuthorizationCodeInvalid
from exact_online_sdk.exceptions import ConfigError


def consent(auth_url: str) -> str:
    response = httpx.get(auth_url, follow_redirects=False)
    assert response.status_code == 302
    return response.headers["location"]


def test_manual_login_writes_generation_one(emu, make_auth):
    store = MemoryTokenStorage()
    auth = make_auth(store)
    shown: list[str] = []
    token = manual_login(auth, read=lambda prompt: consent(shown[-1]), show=shown.append)
    assert token.generation == 1
    assert store.load() == token
    assert emu.state.oauth.grant_for(token.access_token) is not None


def test_manual_login_with_a_stale_callback_is_refused(emu, make_auth):
    store = MemoryTokenStorage()
    auth = make_auth(store)
    stale = consent(auth.authorization_url())  # an earlier attempt's callback
    with pytest.raises(StateMismatch):
        manual_login(auth, read=lambda prompt: stale, show=lambda text: None)
    assert store.load() is None


@pytest.fixture
def tls(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return str(cert_path), str(key_path), context


def test_listener_login_over_https(emu, make_auth, tls):
    cert_path, key_path, client_tls = tls
    store = MemoryTokenStorage()
    auth = make_auth(store)
    auth.redirect_uri = "https://127.0.0.1/callback"
    pages: list[httpx.Response] = []

    def browser(url: str, port: int) -> None:
        callback = consent(url).replace("https://127.0.0.1/", f"https://127.0.0.1:{port}/")
        threading.Thread(target=lambda: pages.append(httpx.get(callback, verify=client_tls))).start()

    def stray(url: str, port: int) -> None:
        assert httpx.get(f"https://127.0.0.1:{port}/favicon.ico", verify=client_tls).status_code == 404
        browser(url, port)

    token = listener_login(
        auth, cert_path=cert_path, key_path=key_path, port=0, timeout=30, show=lambda text: None, on_ready=stray
    )
    assert token.generation == 1
    assert store.load() == token
    assert pages[0].status_code == 200


def test_listener_configuration_errors(make_auth, tls, monkeypatch):
    cert_path, key_path, _ = tls
    auth = make_auth(MemoryTokenStorage())
    monkeypatch.delenv("EXACT_LISTENER_CERT_PATH", raising=False)
    monkeypatch.delenv("EXACT_LISTENER_KEY_PATH", raising=False)
    with pytest.raises(ConfigError, match="EXACT_LISTENER_CERT_PATH, EXACT_LISTENER_KEY_PATH"):
        listener_login(auth)
    with pytest.raises(ConfigError, match="certificate"):
        listener_login(auth, cert_path=key_path, key_path=key_path, port=0)
    auth.redirect_uri = "http://127.0.0.1/callback"
    with pytest.raises(ConfigError, match="https"):
        listener_login(auth, cert_path=cert_path, key_path=key_path, port=0)
    auth.redirect_uri = "https://127.0.0.1/callback"
    with pytest.raises(AuthorizationCodeInvalid, match="no callback"):
        listener_login(auth, cert_path=cert_path, key_path=key_path, port=0, timeout=0.2, show=lambda t: None)


def test_login_config_problems_names_everything(monkeypatch):
    from exact_online_sdk.config import Settings

    for name in list(__import__("os").environ):
        if name.startswith("EXACT_"):
            monkeypatch.delenv(name)
    empty = Settings()
    problems = login_config_problems(empty, "listener", {})
    assert problems[:3] == ["EXACT_CLIENT_ID", "EXACT_CLIENT_SECRET", "EXACT_REDIRECT_URI"]
    assert any("EXACT_TOKEN_PATH" in p for p in problems)
    assert problems[-2:] == ["EXACT_LISTENER_CERT_PATH", "EXACT_LISTENER_KEY_PATH"]
    assert login_config_problems(empty, "manual", {"EXACT_TOKEN_SECRET_A": "a", "EXACT_TOKEN_SECRET_B": "b"}) == [
        "EXACT_CLIENT_ID",
        "EXACT_CLIENT_SECRET",
        "EXACT_REDIRECT_URI",
    ]


def test_cli_login_in_process(emu, tmp_path, monkeypatch):
    from urllib.parse import quote

    from cryptography.fernet import Fernet
    from typer.testing import CliRunner

    from exact_online_sdk.auth import EncryptedFileTokenStorage
    from exact_online_sdk.cli import app
    from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    key = Fernet.generate_key().decode()
    for name, value in {
        "EXACT_BASE_URL": emu.base_url,
        "EXACT_CLIENT_ID": DEFAULT_CLIENT_ID,
        "EXACT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "EXACT_REDIRECT_URI": "https://app.example/callback",
        "EXACT_TOKEN_PATH": str(tmp_path / "t.bin"),
        "EXACT_ENCRYPTION_KEY": key,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EXACT_TOKEN_SECRET_A", raising=False)
    monkeypatch.delenv("EXACT_TOKEN_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("exact_online_sdk.auth.manager.secrets.token_urlsafe", lambda n: "known-state")
    code = emu.control.authorize(redirect_uri="https://app.example/callback")
    callback = f"https://app.example/callback?code={quote(code)}&state=known-state\n"
    result = CliRunner().invoke(app, ["auth", "login", "--mode", "manual"], input=callback)
    assert result.exit_code == 0, result.output
    assert "generation 1" in result.output
    token = EncryptedFileTokenStorage(tmp_path / "t.bin", key).load()
    assert token is not None
    assert token.access_token not in result.output
