"""The seed's documented usage, unchanged: ``scripts/bootstrap_auth.py`` logs in, then
``ExactOnlineClient(settings=Settings.from_env())`` uses the token it stored (issue 12, "The seed's documented
usage"; before, the client answered "no credentials"). Emulator over loopback HTTP; the scripts run in-process."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from exact_online_sdk import ExactOnlineClient, Settings
from exact_online_sdk.api.endpoints import ContactsAPI
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from exact_online_sdk.models import Contact
from tests.support.modules import load_file_module

ROOT = Path(__file__).resolve().parents[3]
REDIRECT = "https://app.example/callback"


def script(name: str) -> ModuleType:
    return load_file_module(ROOT / "scripts" / f"{name}.py", f"script_{name}")


def paste_the_callback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The user: opens the printed URL, consents, and pastes the URL the browser was sent to."""

    def read(prompt: str = "") -> str:
        url = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("http"))
        return httpx.get(url, follow_redirects=False).headers["location"]

    monkeypatch.setattr("builtins.input", read)


@pytest.fixture
def seed_env(emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(__import__("os").environ):
        if name.startswith("EXACT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXACT_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("EXACT_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("EXACT_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
    monkeypatch.setenv("EXACT_DIVISION", str(emu.config.divisions[0]))
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(tmp_path / "token.bin"))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.chdir(tmp_path)  # no stray .env
    return emu


def test_bootstrap_script_then_a_client_from_settings_uses_the_stored_token(
    seed_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paste_the_callback(monkeypatch, capsys)
    assert script("bootstrap_auth").main(["--mode", "manual"]) == 0
    assert "generation 1 stored" in capsys.readouterr().out

    # The seed README's first example, unchanged:
    settings = Settings.from_env()
    client = ExactOnlineClient(settings=settings)
    accounts = client.get("crm/Accounts", params={"$top": 10})
    assert len(accounts) == 10
    contacts = ContactsAPI(client)
    created = contacts.create(Contact(first_name="Grace", last_name="Hopper", email="grace@example.com"))
    found = contacts.list(filters={"Email": ("eq", "grace@example.com")}, select=["ID", "Email"], top=25)
    assert [c.id for c in found] == [created.id]
    assert seed_env.control.counters()["token_calls"] == 1  # the login; the client reused its token

    assert script("fetch_accounts").main(["--top", "3"]) == 0
    assert "3 account(s)" in capsys.readouterr().out


def test_a_client_from_settings_without_any_credentials_still_says_so(
    seed_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exact_online_sdk.exceptions import AuthenticationError

    monkeypatch.delenv("EXACT_TOKEN_PATH")
    with pytest.raises(AuthenticationError, match="no credentials"):
        ExactOnlineClient(settings=Settings.from_env()).get("crm/Accounts", params={"$top": 1})


def test_exact_access_token_in_the_environment_is_used_as_is(seed_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXACT_TOKEN_PATH")
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", seed_env.token())
    rows = ExactOnlineClient(settings=Settings.from_env()).get("crm/Accounts", params={"$top": 2})
    assert len(rows) == 2


def test_bootstrap_script_in_listener_mode(
    seed_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``scripts/bootstrap_auth.py --mode listener``: the local HTTPS listener catches the callback itself."""
    import ssl
    import threading

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    browser_tls = ssl.create_default_context()
    ca.configure_trust(browser_tls)
    monkeypatch.setenv("EXACT_REDIRECT_URI", "https://127.0.0.1:8443/callback")
    monkeypatch.setenv("EXACT_LISTENER_CERT_PATH", str(cert_path))
    monkeypatch.setenv("EXACT_LISTENER_KEY_PATH", str(key_path))
    printed: list[str] = []
    real_print = print

    def watching_print(*args: Any, **kw: Any) -> None:
        line = " ".join(str(a) for a in args)
        printed.append(line)
        if line.startswith("http") and "/api/oauth2/auth" in line:  # the user opens the URL in a browser
            port = next(p for p in printed if p.startswith("Listening on")).split(":")[2].split("/")[0]
            callback = httpx.get(line, follow_redirects=False).headers["location"]
            callback = callback.replace("127.0.0.1:8443", f"127.0.0.1:{port}")
            threading.Thread(target=lambda: httpx.get(callback, verify=browser_tls), daemon=True).start()
        real_print(*args, **kw)

    monkeypatch.setattr("builtins.print", watching_print)
    assert script("bootstrap_auth").main(["--mode", "listener", "--port", "0", "--timeout", "30"]) == 0
    assert any("generation 1 stored" in line for line in printed)
    rows = ExactOnlineClient(settings=Settings.from_env()).get("crm/Accounts", params={"$top": 2})
    assert len(rows) == 2
