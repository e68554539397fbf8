"""Serve a Lambda Function URL handler on loopback, for tests and the demo.

The adapter turns each HTTP request into a payload-format-2.0 event (method, path, query, headers, body base64
encoded) and the handler's answer back into HTTP, as a Function URL does. It binds to 127.0.0.1 only.

Failures look as they do behind a real Function URL: a handler that raises answers ``502`` (``Internal Server
Error``), and with ``reserved_concurrency`` a request beyond that many running invocations is throttled with ``429``
(``Rate Exceeded.``) before the handler runs. ``observe`` hears what Lambda would count, by the names of its
CloudWatch metrics: ``Invocations``, ``Errors``, ``Throttles``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["invoke", "serve_function_url"]

_log = logging.getLogger("exact_online_sdk.aws.local_url")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Observer = Callable[[str], None]

_FAILED = {
    "statusCode": 502,
    "headers": {"Content-Type": "application/json"},
    "body": '{"Message":"Internal Server Error"}',
}
_THROTTLED = {
    "statusCode": 429,
    "headers": {"Content-Type": "application/json"},
    "body": '{"Message":"Rate Exceeded."}',
}


def _event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    parts = urlsplit(target)
    return {
        "version": "2.0",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": parts.path, "sourceIp": "127.0.0.1"}},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


@contextlib.contextmanager
def serve_function_url(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reserved_concurrency: int | None = None,
    observe: Observer | None = None,
) -> Iterator[str]:
    """Run ``handler`` behind ``http://127.0.0.1:PORT/`` until the block ends; yields the URL.

    ``reserved_concurrency``: at most that many invocations at once, the rest throttled (None: no cap).
    ``observe``: called with ``"Invocations"``, ``"Errors"`` or ``"Throttles"`` as each happens.
    """
    slots = threading.BoundedSemaphore(reserved_concurrency) if reserved_concurrency is not None else None
    tell: Observer = observe or (lambda metric: None)

    def run(event: dict[str, Any]) -> dict[str, Any]:
        if slots is not None and not slots.acquire(blocking=False):
            tell("Throttles")
            return _THROTTLED
        try:
            tell("Invocations")
            try:
                return handler(event, None)
            except Exception as exc:  # Lambda logs the failure and the Function URL answers 502
                _log.error("the function raised %s: answered 502", type(exc).__name__, exc_info=exc)
                tell("Errors")
                return _FAILED
        finally:
            if slots is not None:
                slots.release()

    class _Adapter(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            result = run(_event(self.command, self.path, headers, body))
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else str(payload).encode("utf-8")
            self.send_response(int(result.get("statusCode", 200)))
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: bodies may hold data that has no place in test output

    server = ThreadingHTTPServer((host, port), _Adapter)
    thread = threading.Thread(target=server.serve_forever, name="function-url", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def invoke(handler: Handler, method: str, body: bytes, path: str = "/") -> tuple[int, Any]:
    """Call ``handler`` once with a Function URL event, without HTTP (for unit tests)."""
    result = handler(_event(method, path, {}, body), None)
    return int(result["statusCode"]), json.loads(result.get("body") or "null")
