"""Both bootstrap modes end to end against the emulator, as a user runs them (real processes, real HTTP(S))."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.fernet import Fernet

from exact_online_sdk.auth import EncryptedFileTokenStorage
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from exact_online_sdk.emulator.server import EmulatorHandle

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "import sys; from exact_online_sdk.cli import main; sys.argv[0] = 'exact-online'; main()"]


@pytest.fixture
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig()) as handle:
        yield handle


@pytest.fixture
def env(emu, tmp_path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_")}
    return {
        **base,
        "EXACT_BASE_URL": emu.base_url,
        "EXACT_CLIENT_ID": DEFAULT_CLIENT_ID,
        "EXACT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "EXACT_REDIRECT_URI": "https://app.example/callback",
        "EXACT_TOKEN_PATH": str(tmp_path / "token.bin"),
        "EXACT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PYTHONPATH": str(ROOT),
    }


def browser(auth_url: str) -> str:
    """What a browser does: open the authorization URL (the emulator consents) and follow to the callback URL."""
    response = httpx.get(auth_url, follow_redirects=False)
    assert response.status_code == 302
    return response.headers["location"]


def start(cmd: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def read_auth_url(proc: subprocess.Popen[str], base_url: str) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(base_url + "/api/oauth2/auth?"):
            return line.strip()
    raise AssertionError(f"no authorization URL printed; stderr: {proc.stderr.read() if proc.stderr else ''}")


def stored(env: dict[str, str]):
    return EncryptedFileTokenStorage(env["EXACT_TOKEN_PATH"], env["EXACT_ENCRYPTION_KEY"]).load()


def test_cli_manual_login_then_status(emu, env, tmp_path):
    proc = start([*CLI, "auth", "login", "--mode", "manual"], env, tmp_path)
    url = read_auth_url(proc, emu.base_url)
    assert "force_login=1" in url
    assert "state=" in url
    callback = browser(url)
    assert "code=XTzM%21" in callback  # the code's "!" arrives URL-encoded
    out, err = proc.communicate(callback + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "generation 1" in out
    token = stored(env)
    assert token is not None
    assert token.generation == 1
    assert emu.state.oauth.grant_for(token.access_token) is not None  # Exact accepts the stored token
    status = subprocess.run([*CLI, "auth", "status"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "generation: 1" in status.stdout
    assert "expires:" in status.stdout
    assert token.access_token not in status.stdout + status.stderr
    assert token.refresh_token not in status.stdout + status.stderr


def test_cli_manual_login_refuses_a_foreign_state(emu, env, tmp_path):
    proc = start([*CLI, "auth", "login", "--mode", "manual"], env, tmp_path)
    url = read_auth_url(proc, emu.base_url)
    callback = browser(url).replace("state=", "state=forged")
    _out, err = proc.communicate(callback + "\n", timeout=60)
    assert proc.returncode == 3
    assert "state" in err
    assert stored(env) is None
    assert emu.control.counters().get("token_calls", 0) == 0  # the code was never sent


def test_login_names_missing_configuration(env, tmp_path):
    env = {k: v for k, v in env.items() if k not in ("EXACT_CLIENT_SECRET", "EXACT_ENCRYPTION_KEY")}
    result = subprocess.run(
        [*CLI, "auth", "login", "--mode", "listener"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    for name in ("EXACT_CLIENT_SECRET", "EXACT_ENCRYPTION_KEY", "EXACT_LISTENER_CERT_PATH", "EXACT_LISTENER_KEY_PATH"):
        assert name in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_script_listener_login_over_https(emu, env, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    port = _free_port()
    env = {
        **env,
        "EXACT_REDIRECT_URI": f"https://127.0.0.1:{port}/callback",
        "EXACT_LISTENER_CERT_PATH": str(cert_path),
        "EXACT_LISTENER_KEY_PATH": str(key_path),
    }
    proc = start([sys.executable, str(ROOT / "scripts" / "bootstrap_auth.py"), "--mode", "listener"], env, tmp_path)
    url = read_auth_url(proc, emu.base_url)
    callback = browser(url)
    assert callback.startswith(f"https://127.0.0.1:{port}/callback?")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    page = httpx.get(callback, verify=context)  # the browser lands on the listener
    assert page.status_code == 200
    assert "close this window" in page.text
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    token = stored(env)
    assert token is not None
    assert token.generation == 1
    assert token.access_token not in out + err


def test_fetch_accounts_script_lists_accounts(emu, env, tmp_path):
    from exact_online_sdk.auth import ExactOnlineAuth

    auth = ExactOnlineAuth(
        storage=EncryptedFileTokenStorage(env["EXACT_TOKEN_PATH"], env["EXACT_ENCRYPTION_KEY"]),
        base_url=emu.base_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        redirect_uri=env["EXACT_REDIRECT_URI"],
    )
    auth.exchange_code(emu.control.authorize(redirect_uri=env["EXACT_REDIRECT_URI"]))
    auth.close()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch_accounts.py"), "--division", "1002", "--top", "3"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "3 account(s) in division 1002" in result.stdout
    table = emu.control.table("crm/Accounts", 1002)
    first_three = [table.value(i, "Name") for i in list(table.live_indices())[:3]]
    assert len(first_three) == 3
    for name in first_three:
        assert str(name) in result.stdout
