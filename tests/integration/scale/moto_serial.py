"""A moto server on 127.0.0.1 that admits one request at a time into moto (real HTTP, shared by processes).

Moto's backends check a condition and then write in separate steps, and moto's ThreadedMotoServer runs requests
side by side: two racing conditional writes could both win, which DynamoDB never allows. The shared rate budget and
the cursor leases are exactly such races, so here one lock admits one request at a time into moto (reading the
request and writing the answer stay outside it). The server runs in a process of its own.
Scoped to these tests until the suite's shared helper
(``tests/support/moto_server.py``) reaches main.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["moto_server"]


class _OneAtATime:
    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


def _serve(port: Any) -> None:
    """The server process: bind a free port, report it, serve until terminated."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    port.put(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


@contextmanager
def moto_server() -> Iterator[str]:
    """Start the server in its own process (moto is CPU-bound Python: it gets a core of its own) on a free port;
    yield its URL; stop it on exit."""
    ctx = multiprocessing.get_context("spawn")
    port = ctx.Queue()
    process = ctx.Process(target=_serve, args=(port,), name="moto-server", daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{port.get(timeout=60)}"
    finally:
        process.terminate()
        process.join(timeout=10)
