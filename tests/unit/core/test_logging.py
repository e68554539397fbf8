"""Logging manners, the JSON formatter, redaction, and the canary session: no secret in any log line,
exception text or repr."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exact_online_sdk import ExactOnlineClient, RetryPolicy, Settings
from exact_online_sdk._core.redact import redact_text, redact_url
from exact_online_sdk.auth.token import Token
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import APIError, ExactOnlineError
from exact_online_sdk.log import configure_logging

ACCESS = "CANARYaccess7d1f0a9b2c"
ACCESS2 = "CANARYaccess2e4b8c0d1f"
REFRESH = "CANARYrefresh5e6f7a8b"
SECRET = "CANARYsecret1a2b3c4d"
CODE = "CANARYcode9z8y7x6w"
CANARIES = [ACCESS, ACCESS2, REFRESH, SECRET, CODE, "CANARY"]


@pytest.fixture
def sdk_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("exact_online_sdk")
    before = (logger.level, list(logger.handlers))
    yield logger
    for h in list(logger.handlers):
        if h not in before[1]:
            logger.removeHandler(h)
            h.close()
    logger.setLevel(before[0])


def test_library_adds_only_a_null_handler_and_propagates() -> None:
    logger = logging.getLogger("exact_online_sdk")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    assert logger.propagate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: *** ***"),
        (
            "grant_type=refresh_token&refresh_token=r1&client_secret=s1",
            "grant_type=refresh_token&refresh_token=***&client_secret=***",
        ),
        ("GET /cb?code=xyz&state=1", "GET /cb?code=***&state=1"),
        ('{"access_token": "t", "expires_in": "600"}', '{"access_token": "***", "expires_in": "600"}'),
        ("client_secret: hunter22", "client_secret: ***"),
        ("Timestamp gt 5L and Code eq '  25'", "Timestamp gt 5L and Code eq '  25'"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_url_keeps_odata_and_drops_userinfo() -> None:
    url = "https://user:pw@start.exactonline.nl/api/oauth2/auth?code=abc&$filter=Name eq 'x'&state=s"
    out = redact_url(url)
    assert out.startswith("https://start.exactonline.nl/api/oauth2/auth?")
    assert "code=***" in out
    assert "pw" not in out
    assert "state=s" in out
    assert "$filter=Name" in out


def test_json_lines_to_a_file_with_debug_line_per_request(sdk_logger: logging.Logger, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "sdk.jsonl"
    settings = Settings(log_level="DEBUG", log_json=True, log_file=log_file)
    configure_logging(settings)
    configure_logging(settings)  # idempotent: replaces, never duplicates
    clock = ManualClock()
    client = ExactOnlineClient(
        access_token=ACCESS,
        division=1,
        clock=clock,
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"d": {"results": []}}, headers={"X-RateLimit-Minutely-Remaining": "41"})
        ),
    )
    client.get("crm/Accounts", {"$top": 1})
    for h in sdk_logger.handlers:
        h.flush()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    request_lines = [x for x in lines if x.get("http_path")]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert line["level"] == "DEBUG"
    assert line["logger"] == "exact_online_sdk.http"
    assert line["http_method"] == "GET"
    assert line["http_path"] == "/api/v1/1/crm/Accounts"
    assert line["http_status"] == 200
    assert line["attempt"] == 1
    assert line["minutely_remaining"] == 41
    assert isinstance(line["duration_ms"], int)
    assert len(line["request_id"]) == 16
    assert "GET /api/v1/1/crm/Accounts -> 200" in line["message"]


def test_canary_session(sdk_logger: logging.Logger, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A whole session with canary secrets: 401 + re-read, 5xx retry, errors, a transport failure whose text
    echoes the token, and a careless log call; no canary may appear anywhere."""
    log_file = tmp_path / "sdk.log"
    settings = Settings(client_id="cid", client_secret=SECRET, division=1, log_level="DEBUG", log_file=log_file)
    configure_logging(settings)
    clock = ManualClock()

    class Source:
        def __init__(self) -> None:
            self.token = ACCESS

        def __repr__(self) -> str:
            return "Source()"

        def get_access_token(self) -> str:
            return self.token

        def on_unauthorized(self, rejected_token: str) -> str | None:
            self.token = ACCESS2
            return self.token

    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        auth = request.headers["Authorization"]
        if auth == f"Bearer {ACCESS}":
            return httpx.Response(
                401, json={"error": {"code": "", "message": {"lang": "", "value": f"token {ACCESS} expired"}}}
            )
        if "boom" in request.url.path:
            raise httpx.ConnectError(f"failed sending {auth} to https://x/cb?code={CODE}")
        if "bad" in request.url.path:
            return httpx.Response(
                400,
                json={"error": {"code": "", "message": {"lang": "", "value": f"refresh_token={REFRESH} code={CODE}"}}},
            )
        if "html" in request.url.path:
            return httpx.Response(
                200, content=f"<html>{auth} {SECRET}</html>".encode(), headers={"Content-Type": "text/html"}
            )
        return httpx.Response(200, json={"d": {"results": []}})

    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG, "exact_online_sdk"):
        client = ExactOnlineClient(
            settings=settings,
            auth=Source(),
            transport=httpx.MockTransport(handler),
            clock=clock,
            retry=RetryPolicy(max_attempts=2),
        )
        client.get("crm/Accounts")
        for path in ("crm/boom", "crm/bad", "crm/html"):
            try:
                client.get(path)
            except ExactOnlineError as exc:
                errors.append(exc)
        try:
            client.request("GET", f"crm/Accounts?code={CODE}")
        except ExactOnlineError as exc:
            errors.append(exc)
        token = Token(access_token=ACCESS, refresh_token=REFRESH, issued_at=0, expires_at=600)
        logging.getLogger("exact_online_sdk.auth").debug("careless: %s refresh_token=%s", token.to_state(), REFRESH)
        logging.getLogger("exact_online_sdk.auth").debug("careless: %r %s", token, f"Bearer {ACCESS2}")
    for h in sdk_logger.handlers:
        h.flush()

    assert len(errors) == 4
    assert any(isinstance(e, APIError) and e.status_code == 400 for e in errors)
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [getattr(e, "message", "") for e in errors] + [str(getattr(e, "url", "")) for e in errors]
    texts += [repr(client), repr(settings), str(settings), repr(token), str(token), repr(client.rate_limits())]
    sdk_lines = [r.getMessage() for r in caplog.records if "careless" not in r.msg]
    file_text = log_file.read_text()
    assert "careless" in file_text
    assert "GET /api/v1/1/crm/Accounts -> 200" in file_text
    for canary in CANARIES:
        for text in texts + sdk_lines + [file_text]:
            assert canary not in text, (canary, text)
