"""`exact-online auth login` against the emulator as a person runs it (a real process, a real browser hop)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet

from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from exact_online_sdk.emulator.server import EmulatorHandle

CLI = [sys.executable, "-m", "exact_online_sdk.cli"]


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with run_emulator(EmulatorConfig()) as handle:
        yield handle


PROMPT = "Paste the full URL the browser was redirected to: "


def login(emu: EmulatorHandle, tmp_path, client_secret: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the login, act as the browser, paste the callback; the result and the prompt as it was shown."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACT_")}
    env.update(
        EXACT_BASE_URL=emu.base_url,
        EXACT_CLIENT_ID=DEFAULT_CLIENT_ID,
        EXACT_CLIENT_SECRET=client_secret,
        EXACT_REDIRECT_URI="https://app.example/callback",
        EXACT_TOKEN_PATH=str(tmp_path / "token.bin"),
        EXACT_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    proc = subprocess.Popen(
        [*CLI, "auth", "login"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = next(line.strip() for line in proc.stdout if line.startswith(emu.base_url + "/api/oauth2/auth?"))
    # the prompt is the last thing shown before the process waits; read it from the same buffered stream
    prompt = proc.stdout.read(len(PROMPT))
    callback = httpx.get(url, follow_redirects=False).headers["location"]  # the browser: consent, then redirect
    out, err = proc.communicate(callback + "\n", timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), prompt


def test_the_prompt_ends_with_one_colon(emu, tmp_path):
    result, prompt = login(emu, tmp_path, DEFAULT_CLIENT_SECRET)
    assert result.returncode == 0, result.stderr
    assert prompt == PROMPT  # one colon, one space (typer.prompt adds its own ": ")
    assert result.stdout.startswith("Logged in: token generation 1")


def test_a_wrong_client_secret_says_check_the_secret_not_log_in_again(emu, tmp_path):
    result, _ = login(emu, tmp_path, "not-the-secret-canary")
    assert result.returncode == 3
    first, second = result.stderr.splitlines()
    assert first.startswith("error: ")
    assert second.startswith("  next: check EXACT_CLIENT_ID and EXACT_CLIENT_SECRET")
    assert "auth login" not in second
    assert "not-the-secret-canary" not in result.stdout + result.stderr
