"""One in-process moto server for the tests, the end-to-end scenarios and the demo: real HTTP on 127.0.0.1.

Use it as a context manager (``with MotoServer() as aws: ...``) or through the ``moto_server`` fixtures in
``tests/integration/aws/conftest.py``. Boto3 clients made by :meth:`MotoServer.client` (or with
:func:`client_config`) fail within seconds, with botocore's "Read timeout on endpoint URL", if the server ever stops
answering.

Why not moto's own ``ThreadedMotoServer`` as it is:

- **Moto's backends are not thread-safe.** ``ThreadedMotoServer`` handles each connection in its own thread and lets
  those threads run the backend code side by side. Moto checks a condition and then writes in separate steps, so two
  clients racing on one conditional write (a DynamoDB ``attribute_not_exists`` put: the refresher's lease, a shared
  rate budget) can both win; measured: 4-6 of 60 rounds of six racing writers had two winners at a thread-switch
  interval of 10-100 us (at Python's default 5 ms it is rarer, not impossible). Real AWS serialises
  such writes. Here one lock admits one request at a time into moto; reading the request and writing the answer stay
  outside the lock, so a slow client never holds the others up. (Moto is CPU-bound Python under one GIL: the lock
  costs no throughput.)
- **boto3's defaults turn a stall into minutes.** 60 s connect and read timeouts and up to 5 attempts (with real-time
  back-off) per call; :func:`client_config` bounds one call to ``READ_TIMEOUT`` seconds and one attempt.

What looked like a stall in the 48 h end-to-end run was throughput, not a deadlock: a moto call costs 4-12 ms of one
core (werkzeug opens a new connection and thread per request, then Flask and moto run), the run made ~18 000 of
them, and under coverage tracing and a loaded machine that passes the 300 s timeout; a snapshot of such a run shows the
caller in ``recv_into`` and a server thread waiting for the GIL at its socket write (``flush_headers``). Watched with
a per-call watchdog over three full runs of it (18 201 calls each), no call took longer than 0.6 s without coverage
and 1.8 s with coverage on a machine at load 7 (median 12 and 42 ms); the run took 234 s, 247 s and 15 min.
Scenarios must therefore make few calls per simulated hour, and every client must still give up in seconds if the
server truly stops answering.

Were moto ever to call itself over HTTP while answering (none of the services these tests use does), the inner request
would wait for the lock: after ``LOCK_TIMEOUT`` it gets a 503, and the log names the request holding the server,
instead of a hang.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CONNECT_TIMEOUT",
    "LOCK_TIMEOUT",
    "READ_TIMEOUT",
    "MotoServer",
    "client_config",
    "moto_server",
    "moto_server_process",
]

CONNECT_TIMEOUT = 2.0
"""Seconds for the TCP connect to 127.0.0.1: it is immediate unless the server is gone."""
READ_TIMEOUT = 15.0
"""Seconds to wait for an answer: a moto call takes milliseconds, even on a loaded machine with coverage on."""
LOCK_TIMEOUT = 10.0
"""Seconds a request may wait for the one before it: beyond this something is stuck, and the answer says what."""

_REGION = "eu-west-1"
_log = logging.getLogger(__name__)


def client_config(**overrides: Any) -> Any:
    """A botocore ``Config`` for clients of the test server: short timeouts, one attempt, no real-time back-off."""
    from botocore.config import Config

    settings: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "retries": {"mode": "standard", "total_max_attempts": 1},
    }
    settings.update(overrides)
    return Config(**settings)


class _OneAtATime:
    """WSGI middleware: one request at a time inside moto, the whole body produced under the lock."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._holder: tuple[str, float] | None = None
        self.served = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        label = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} {environ.get('HTTP_X_AMZ_TARGET', '')}"
        if not self._lock.acquire(timeout=LOCK_TIMEOUT):
            holder = self._holder
            held = f"{holder[0].strip()} for {time.monotonic() - holder[1]:.1f} s" if holder else "unknown"
            message = f"moto test server: waited {LOCK_TIMEOUT:g} s behind another request ({held})".encode()
            _log.error(message.decode())  # botocore shows a bare 503; the log says which request holds the server
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))]
            start_response("503 Service Unavailable", headers)
            return [message]
        try:
            self._holder = (label, time.monotonic())
            result = self._app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            self.served += 1
            return [body]
        finally:
            self._holder = None
            self._lock.release()


class MotoServer:
    """A moto server on ``127.0.0.1:<free port>`` in a background thread; ``url`` once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, region: str = _REGION) -> None:
        self._host, self._port, self.region = host, port, region
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: _OneAtATime | None = None
        self.url = ""

    # --- life cycle ---------------------------------------------------------------------------------------------
    def start(self) -> MotoServer:
        """Bind, start serving, and return self (``url`` is set)."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._host, self._port, self._app, threaded=True, request_handler=MotoRequestHandler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.name = f"moto-server:{port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (werkzeug closes it when ``serve_forever`` returns)."""
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- use ----------------------------------------------------------------------------------------------------
    @property
    def served(self) -> int:
        """Requests answered so far."""
        return self._app.served if self._app is not None else 0

    def client(self, service: str, **overrides: Any) -> Any:
        """A boto3 client for ``service`` on this server, with the test timeouts (see :func:`client_config`)."""
        import boto3

        session: Any = boto3.session.Session()  # any service name: the typed stubs only take literal names
        return session.client(
            service, region_name=self.region, endpoint_url=self.url, config=client_config(**overrides)
        )

    def env(self, *services: str) -> dict[str, str]:
        """``AWS_ENDPOINT_URL_<SERVICE>`` variables pointing the named services (all, if none named) here."""
        if not services:
            return {"AWS_ENDPOINT_URL": self.url}
        import botocore.session

        session = botocore.session.get_session()
        names = (session.get_service_model(s).service_id.replace(" ", "_").replace("-", "_").upper() for s in services)
        return {f"AWS_ENDPOINT_URL_{name}": self.url for name in names}

    def reset(self) -> None:
        """Forget every resource (moto's reset API): a fresh account for the next test, the server kept running."""
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=READ_TIMEOUT) as answer:
            answer.read()


@contextmanager
def moto_server(**kwargs: Any) -> Iterator[MotoServer]:
    """``with moto_server() as aws:`` a started :class:`MotoServer`, stopped on exit."""
    server = MotoServer(**kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _serve_in_this_process(port: Any) -> None:
    """The body of :func:`moto_server_process`: bind a free port, report it, serve until terminated."""
    server = MotoServer().start()
    port.put(server.url)
    threading.Event().wait()


@contextmanager
def moto_server_process() -> Iterator[str]:
    """The same server in a process of its own; yields its URL. For scenarios whose worker processes load the test
    process's cores: moto is CPU-bound Python, and there it gets an interpreter (and a core) of its own."""
    ctx = multiprocessing.get_context("spawn")
    port = ctx.Queue()
    process = ctx.Process(target=_serve_in_this_process, args=(port,), name="moto-server", daemon=True)
    process.start()
    try:
        yield port.get(timeout=60)
    finally:
        process.terminate()
        process.join(timeout=10)
