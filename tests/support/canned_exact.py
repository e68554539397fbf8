"""A tiny Exact stand-in on 127.0.0.1 that answers with hand-written wire bytes (real HTTP, nothing generated).

For parsing tests whose expected values must not come from the registry the SDK is generated from: the test writes
Exact's JSON by hand, this server hands it out for ``GET <path>`` (a ``$skiptoken`` in the query picks a later page),
and the test reads it through the real client and typed API.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["CannedExact", "canned_exact"]


@dataclass
class CannedExact:
    """Pages by path (``/api/v1/{division}/crm/Accounts``) and ``$skiptoken`` (None for the first page)."""

    base_url: str = ""
    pages: dict[tuple[str, str | None], bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # request targets as received

    def add(self, path: str, body: str | bytes, *, skiptoken: str | None = None) -> None:
        self.pages[(path, skiptoken)] = body.encode() if isinstance(body, str) else body


@contextmanager
def canned_exact() -> Iterator[CannedExact]:
    """Serve a :class:`CannedExact` until the block ends (404 for anything not added)."""
    canned = CannedExact()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            canned.requests.append(self.path)
            target = urlsplit(self.path)
            token = parse_qs(target.query).get("$skiptoken", [None])[0]
            body = canned.pages.get((target.path, token))
            status = 200 if body is not None else 404
            body = body if body is not None else b'{"error":{"code":"","message":{"lang":"","value":"not canned"}}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    canned.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
