"""Terminal output from data (issue 15, item 7): a hostile Exact's rows reach the terminal as plain text.

A small HTTP server on 127.0.0.1 plays an Exact that answers with names full of rich markup, terminal escape
sequences and control characters, and numbers JSON cannot carry."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from exact_online_sdk.cli import api, app
from exact_online_sdk.cli._common import STATE
from exact_online_sdk.cli._text import clean, one_line
from exact_online_sdk.clock import ManualClock

runner = CliRunner()

OSC_LINK = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"
HOSTILE_NAMES = [
    "[/bold]",
    "[link=https://evil.example/]Pay here[/link]",
    "[bold red]ALERT[/]",
    OSC_LINK,
    "clear\x1b[2J\x1b[Hscreen",
    "over\rwritten",
    "bell\x07 and C1 \x9b31m csi",
    "bidi \u202egnp.exe",
]


class HostileExact(BaseHTTPRequestHandler):
    body: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hostile(monkeypatch, tmp_path) -> Iterator[type[HostileExact]]:
    class Handler(HostileExact):
        pass

    monkeypatch.setattr(STATE, "clock", ManualClock())  # retries back off on a clock that jumps

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXACT_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("EXACT_ACCESS_TOKEN", "hostile-test-token")
    monkeypatch.setenv("EXACT_DIVISION", "1001")
    try:
        yield Handler
    finally:
        server.shutdown()
        server.server_close()


def serve_rows(handler: type[HostileExact], rows_json: str) -> None:
    handler.body = ('{"d": {"results": [' + rows_json + "]}}").encode()


def as_table(monkeypatch) -> None:
    """What a person at a terminal gets: the table, not JSON lines."""
    monkeypatch.setattr(api, "want_json", lambda flag: flag)


def test_markup_and_escapes_in_names_are_shown_as_text_in_the_table(hostile, monkeypatch):
    serve_rows(hostile, ",".join(json.dumps({"ID": i, "Name": name}) for i, name in enumerate(HOSTILE_NAMES)))
    as_table(monkeypatch)
    result = runner.invoke(app, ["get", "crm/Accounts"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output  # "[/bold]" used to raise rich's MarkupError
    out = result.stdout
    assert "[/bold]" in out
    assert "[link=https://evil.example/]Pay here[/link]" in out  # shown, not turned into a hyperlink
    assert "[bold red]ALERT[/]" in out
    assert "click me" in out
    assert "evil.example/\x07" not in out
    for dangerous in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert dangerous not in out, repr(dangerous)


def test_json_lines_keep_the_data_and_escape_what_a_terminal_would_obey(hostile):
    serve_rows(hostile, ",".join(json.dumps({"ID": i, "Name": name}) for i, name in enumerate(HOSTILE_NAMES)))
    result = runner.invoke(app, ["get", "crm/Accounts", "--json"])
    assert result.exit_code == 0, result.output
    for dangerous in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert dangerous not in result.stdout, repr(dangerous)
    names = [json.loads(line)["Name"] for line in result.stdout.splitlines()]
    assert names == HOSTILE_NAMES  # JSON escapes keep every character for the program that reads it


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_json_never_carries_nan_or_infinity(hostile, number):
    serve_rows(hostile, '{"ID": 1, "Name": "ok"}, {"ID": 2, "Amount": ' + number + "}")
    result = runner.invoke(app, ["get", "crm/Accounts", "--json"])
    assert result.exit_code != 0
    for line in result.stdout.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the JSON output"))
    first, second = result.stderr.splitlines()
    assert first.startswith("error: ")
    assert second.startswith("  next: ")


def test_an_error_message_from_data_is_one_clean_line(hostile):
    hostile.body = b'{"d": {"results": "not rows \x1b]0;owned\x07"}}'
    result = runner.invoke(app, ["get", "crm/Accounts", "--json"])
    assert result.exit_code != 0
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    *waits, first, second = result.stderr.splitlines()
    assert all(w.startswith("waiting ") for w in waits)  # the client retried: a body like this is usually brief
    assert first.startswith("error: 200 GET ")
    assert second.startswith("  next: ")


def test_clean_strips_sequences_whole_and_keeps_text():
    assert clean(OSC_LINK) == "click me"
    assert clean("a\x1b[31mred\x1b[0m b") == "ared b"
    assert clean("keep\ttabs\nand lines") == "keep\ttabs\nand lines"
    assert clean("\x1bc reset") == " reset"
    assert clean("\x9d0;title\x9c rest") == " rest"
    assert one_line("two\nlines\x00 and\r\nmore") == "two lines and more"
    assert one_line("x" * 700).endswith("…")
