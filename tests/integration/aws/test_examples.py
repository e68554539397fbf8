"""examples/ run against the emulator (real HTTP) with the token in the moto server's Secrets Manager."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import SystemClock
from tests.support.modules import load_file_module

ROOT = Path(__file__).resolve().parents[3]


def load(name: str) -> ModuleType:
    # registered as an import does: dataclasses (and Prefect) look the module up by name
    return load_file_module(ROOT / "examples" / f"{name}.py", f"example_{name}", register=True)


@pytest.fixture
def live(prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An emulator on real time (the examples use the system clock), its token stored in the slots."""
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(token_daily_limit=None, rows=25, divisions=(1001, 1002))) as emu:
        pair = emu.control.issue_token()
        now = SystemClock().now()
        token = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), 1)
        SecretsManagerTokenStorage(prefix, writable=True).save(token, expected_generation=None)
        monkeypatch.setenv("EXACT_TOKEN_SECRET_A", f"{prefix}-a")
        monkeypatch.setenv("EXACT_TOKEN_SECRET_B", f"{prefix}-b")
        monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
        yield emu


def test_lambda_worker_handler(live: Any) -> None:
    module = load("lambda_worker")
    answer = module.handler({"path": "crm/Accounts", "division": 1002, "select": "ID,Name"}, None)
    assert answer["count"] == live.control.table("crm/Accounts", 1002).count() == 25
    assert answer["pages"] >= 1
    assert {"ID", "Name"} <= set(answer["rows"][0])
    again = module.handler({"path": "crm/Accounts", "division": 1001, "max_rows": 5}, None)  # warm container
    assert again["count"] == 5
    assert live.control.counters().get("token_calls", 0) == 0


def test_prefect_flow_tasks(live: Any) -> None:
    # The tasks' own functions (.fn), fast; the next test runs the whole flow under Prefect's harness.
    module = load("prefect_flow")
    divisions = module.list_divisions.fn()
    assert divisions == [1001, 1002]
    results = [module.export_endpoint.fn("crm/Accounts", d, "ID,Name") for d in divisions]
    assert [r["rows"] for r in results] == [25, 25]
    assert all(len(r["first_ids"]) == 3 for r in results)
    assert live.control.counters().get("token_calls", 0) == 0


@pytest.mark.slow
@pytest.mark.timeout(600)  # the first test of the group starts the harness in its set-up: minutes on a loaded machine
@pytest.mark.xdist_group("prefect")
@pytest.mark.usefixtures("prefect_server")
def test_prefect_flow_under_the_test_harness(
    live: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """The whole flow in Prefect's local harness (the session's, tests/support/prefect_harness.py: its start-up is
    most of the time). No bound on how long that takes: the harness's own start-up timeout is the backstop."""
    module = load("prefect_flow")
    results = module.export_all("crm/Accounts", "ID,Name")
    assert [(r["division"], r["rows"]) for r in results] == [(1001, 25), (1002, 25)]
    assert live.control.counters().get("token_calls", 0) == 0
    logged = caplog.text + "".join(capfd.readouterr())
    assert "database is locked" not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
