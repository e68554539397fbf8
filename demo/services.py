"""The pieces the demo starts around the SDK: a moto server, the refresher Lambda, the OAuth bootstrap.

All of it is process-wide and test-only by nature (environment variables, third-party log levels, a handler module
loaded from ``lambdas/``), which is why it lives here and not in ``exact_online_sdk``. Every change is undone on
exit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx

from exact_online_sdk.auth.oauth import OAuthEndpoint, parse_callback
from exact_online_sdk.clock import Clock

__all__ = ["REDIRECT_URI", "Refresher", "bootstrap", "environment", "moto_server", "quiet"]

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "lambdas" / "refresher" / "handler.py"
REDIRECT_URI = "https://demo.example.com/exact/callback"


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block (the Lambda handler and boto3 read them), then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextmanager
def quiet(*loggers: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise the level of noisy third-party loggers for the block (one access-log line per AWS call is noise)."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server (Secrets Manager) on a free loopback port; yields its URL.

    The tests' own server (tests/support/moto_server.py): one request at a time inside moto, so the demo and the
    suite run against the same thing."""
    try:
        from tests.support.moto_server import MotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the demo needs moto[server] and the checkout's tests/: run it with `make demo`") from exc
    with quiet("werkzeug"), MotoServer() as server:
        yield server.url


def bootstrap(base_url: str, client_id: str, client_secret: str, store: Any, clock: Clock) -> int:
    """Authorization-code flow against the emulator (auto-consent), then generation 1 into the slots."""
    state = uuid.uuid4().hex
    query = urlencode({"client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": state})
    answer = httpx.get(f"{base_url}/api/oauth2/auth?{query}", follow_redirects=False)
    if answer.status_code != 302:
        raise RuntimeError(f"authorization did not redirect (HTTP {answer.status_code})")
    code, returned_state = parse_callback(answer.headers["location"])
    if returned_state != state:
        raise RuntimeError("state mismatch on the authorization callback")
    with OAuthEndpoint(base_url, client_id, client_secret, REDIRECT_URI, clock=clock) as endpoint:
        token = endpoint.exchange_code(code)
    store.save(token.replace(writer="demo-bootstrap"), expected_generation=None)
    return token.generation


class _LambdaContext:
    """The bits of a Lambda context the handler reads."""

    function_name = "exact-token-refresher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-refresher"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 90_000


class Refresher:
    """The real refresher Lambda handler (``lambdas/refresher/handler.py``), one warm container, on ``clock``.

    :meth:`invoke` is one scheduled run, as EventBridge Scheduler delivers it; failures are kept, not raised."""

    def __init__(self, clock: Clock) -> None:
        if not HANDLER.is_file():
            raise RuntimeError(f"the demo runs the refresher from {HANDLER}: run it from a checkout (make demo)")
        spec = importlib.util.spec_from_file_location("demo_refresher_handler", HANDLER)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {HANDLER}")
        self.module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.module.configure(clock=clock)
        self.invocations = 0
        self.refreshed: list[int] = []
        self.failures: list[str] = []

    def invoke(self) -> None:
        """One scheduled run. The handler prints its EMF metrics and JSON logs to stdout, as Lambda expects; they
        are kept out of the demo's story."""
        self.invocations += 1
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                result = self.module.handler({"source": "aws.scheduler"}, _LambdaContext())
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        if isinstance(result, dict) and result.get("action") == "refreshed":
            self.refreshed.append(int(result["generation"]))
