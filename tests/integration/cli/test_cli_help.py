"""Help, version, `config`, the emulator's options, webhook topics: what a new user reads in the first minutes."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from exact_online_sdk import __version__
from exact_online_sdk.cli import app
from exact_online_sdk.cli.config_cmd import DESCRIPTIONS
from exact_online_sdk.cli.emulator import command_for
from exact_online_sdk.config import Settings
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.cli_args import build_parser

runner = CliRunner()


def every_command() -> Iterator[list[str]]:
    def walk(command, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


COMMANDS = list(every_command())


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "exact-online")
def test_help_names_values_in_words(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert not re.search(r"<[a-z][a-z \[\]]*>", result.stdout), result.stdout  # <bool>, <str>, <int range>
    assert not re.search(r"\{[a-z_]+\}", result.stdout), result.stdout  # {path}


def test_every_option_of_every_command_says_what_it_does():
    undocumented = []
    for path in COMMANDS:
        command = get_command(app)
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if not (param.help or "").strip():
                undocumented.append(f"{' '.join(path)} {param.name}")
    assert not undocumented


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"exact-online {__version__}\n"


def test_root_help_points_to_the_variables_and_config():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "EXACT_BASE_URL" in result.stdout
    assert "`exact-online config` lists every one" in result.stdout


# --- config ------------------------------------------------------------------------------------------------------


def test_every_setting_is_described():
    assert set(DESCRIPTIONS) == set(Settings.model_fields)


def test_config_lists_every_variable_with_its_source_and_hides_secrets(tmp_path, monkeypatch):
    for name in ("EXACT_BASE_URL", "EXACT_ACCESS_TOKEN", "EXACT_CLIENT_SECRET", "EXACT_DIVISION", "EXACT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EXACT_DIVISION=1002\nEXACT_CLIENT_SECRET=dotenv-secret-canary\n")
    monkeypatch.setenv("EXACT_REGION", "be")
    monkeypatch.setenv("exact_access_token", "env-token-canary")  # read case-insensitively, as Settings does
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    import json

    rows = {r["Variable"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {f"EXACT_{name.upper()}" for name in Settings.model_fields}
    assert rows["EXACT_DIVISION"] | {"Meaning": ""} == {
        "Variable": "EXACT_DIVISION",
        "Value": "1002",
        "Source": ".env file",
        "Meaning": "",
    }
    assert rows["EXACT_CLIENT_SECRET"]["Value"] == "(set, hidden)"
    assert rows["EXACT_ACCESS_TOKEN"]["Value"] == "(set, hidden)"
    assert rows["EXACT_ACCESS_TOKEN"]["Source"] == "environment"
    assert rows["EXACT_BASE_URL"]["Value"] == "https://start.exactonline.be"
    assert rows["EXACT_BASE_URL"]["Source"] == "from EXACT_REGION"
    assert rows["EXACT_TIMEOUT"]["Source"] == "default"
    assert rows["EXACT_WEBHOOK_SECRET"]["Source"] == "not set"
    assert "canary" not in result.output


def test_config_still_lists_when_a_value_is_wrong(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXACT_DIVISION", "not-a-number")
    monkeypatch.setenv("EXACT_CLIENT_SECRET", "broken-day-canary")
    result = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "EXACT_DIVISION" in result.stdout
    assert "not-a-number" in result.stdout  # the raw value, so the mistake is visible
    assert "canary" not in result.output  # ...but never a secret's
    assert result.stderr.splitlines()[1] == "  next: fix EXACT_DIVISION; the table shows where each value comes from"


# --- the emulator's options through Typer ----------------------------------------------------------------------


def sample_parser() -> argparse.ArgumentParser:
    """Every kind of option the emulator's parser uses."""
    p = argparse.ArgumentParser(prog="x", description="A server.", add_help=False)
    p.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    p.add_argument("--port", type=int, default=8901, help="Port to listen on.")
    p.add_argument("--ratio", type=float, default=None, metavar="X", help="A ratio.")
    p.add_argument("--name", action="append", dest="names", default=[], metavar="NAME", help="A name (repeat).")
    p.add_argument("--pair", type=lambda t: tuple(t.split(",")), default=(1, 2), metavar="N,N", help="Two numbers.")
    p.add_argument("--mode", choices=("ignore", "reject"), default="ignore", help="What to do.")
    p.add_argument("--consent", action=argparse.BooleanOptionalAction, default=True, help="Consent at once.")
    p.add_argument("--strict", action="store_true", help="Be strict.")
    return p


def test_a_parser_becomes_a_typer_command_with_its_help_and_defaults():
    import typer

    seen: list[list[str]] = []
    sample = typer.Typer()
    sample.command("serve")(command_for(sample_parser(), seen.append))
    sample.command("other")(lambda: None)  # two commands: `serve` is a sub-command
    help_text = runner.invoke(sample, ["serve", "--help"], env={"COLUMNS": "200"}).stdout
    for expected in (
        "Port to listen on.",
        "[default: 8901]",
        "A name (repeat).",
        "Two numbers.",
        "[default: 1,2]",
        "ignore|reject",
        "--consent",
        "--no-consent",
        "Be strict.",
    ):
        assert expected in help_text, expected
    result = runner.invoke(
        sample, ["serve", "--port", "0", "--name", "a", "--name", "b", "--mode", "reject", "--no-consent", "--strict"]
    )
    assert result.exit_code == 0, result.output
    argv = seen[-1]
    parsed = sample_parser().parse_args(argv)
    assert (parsed.port, parsed.names, parsed.mode, parsed.consent, parsed.strict) == (
        0,
        ["a", "b"],
        "reject",
        False,
        True,
    )
    assert parsed.pair == ("1", "2")  # the default, passed on as the text that gives it
    refused = runner.invoke(sample, ["serve", "--port", "eighty"])
    assert refused.exit_code == 2
    assert "Invalid value for '--port'" in refused.output


def test_exact_online_emulator_has_every_option_of_the_emulator_parser(monkeypatch):
    parser = build_parser()
    wanted = {s for a in parser._actions for s in a.option_strings if s.startswith("--")}
    command = get_command(app).commands["emulator"]
    offered = {s for p in command.params for s in (*p.opts, *p.secondary_opts) if s.startswith("--")}
    assert wanted <= offered | {"--help"}
    seen: list[list[str]] = []
    monkeypatch.setattr("exact_online_sdk.emulator.cli_args.main", lambda argv, prog: seen.append([prog, *argv]))
    result = runner.invoke(app, ["emulator", "--port", "0", "--divisions", "1001", "--no-auto-consent"])
    assert result.exit_code == 0, result.output
    prog, *argv = seen[0]
    assert prog == "exact-online emulator"
    args = parser.parse_args(argv)
    assert (args.port, args.divisions, args.auto_consent) == (0, (1001,), False)


# --- webhooks ------------------------------------------------------------------------------------------------------


@pytest.fixture
def emu_env(tmp_path, monkeypatch):
    with run_emulator(EmulatorConfig(rows=5)) as emu:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("EXACT_BASE_URL", emu.base_url)
        monkeypatch.setenv("EXACT_ACCESS_TOKEN", emu.token())
        monkeypatch.setenv("EXACT_DIVISION", "1001")
        yield emu


def test_webhooks_list_with_none_says_so(emu_env):
    table = runner.invoke(app, ["webhooks", "list"])
    assert table.exit_code == 0, table.output
    assert table.stderr == ("no webhook subscriptions in division 1001; add them with `exact-online webhooks sync`\n")


def test_webhooks_sync_refuses_an_unknown_topic_before_any_call(emu_env):
    result = runner.invoke(
        app, ["webhooks", "sync", "--callback", "https://hooks.example.com/x", "-t", "NotATopic", "--dry-run"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown webhook topic 'NotATopic'\n  next: topics: Accounts, ")
    assert emu_env.control.requests() == []
    typo = runner.invoke(app, ["webhooks", "sync", "--callback", "https://hooks.example.com/x", "-t", "acounts"])
    assert "next: did you mean Accounts?" in typo.stderr
    forced = runner.invoke(
        app,
        ["webhooks", "sync", "--callback", "https://hooks.example.com/x", "-t", "Projects", "--any-topic", "--dry-run"],
    )
    assert forced.exit_code == 0, forced.output
    assert "would create Projects -> https://hooks.example.com/x" in forced.stdout
