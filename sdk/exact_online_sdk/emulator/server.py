"""Run the emulator over real HTTP: uvicorn on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ..clock import Clock
from .app import TRANSPORT, create_app
from .config import EmulatorConfig
from .control import Control
from .state import EmulatorState

__all__ = ["EmulatorHandle", "run_emulator", "serve"]

log = logging.getLogger("exact_online_sdk.emulator.server")

_TICK = 0.1
"""Seconds between uvicorn's housekeeping ticks while serving (its own interval); a stop request wakes it at once."""
_DRAIN_POLL = 0.002
"""Seconds between checks while closing connections drain at shutdown."""
_DRAIN_TIMEOUT = 5.0
"""Seconds an in-flight request may take to finish at shutdown before it is cancelled."""


def _protocol_class() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class EmulatorProtocol(H11Protocol):
        """h11 protocol that exposes its transport to the app, so faults can drop the connection."""

        def data_received(self, data: bytes) -> None:
            token = TRANSPORT.set(self.transport)
            try:
                super().data_received(data)
            finally:
                TRANSPORT.reset(token)

    return EmulatorProtocol


@dataclass
class EmulatorHandle:
    """A running emulator: where it listens and how to steer it."""

    base_url: str
    config: EmulatorConfig
    clock: Clock
    control: Control
    state: EmulatorState

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def token(self, client_id: str | None = None) -> str:
        """A fresh valid access token (shortcut for ``control.issue_token()["access_token"]``)."""
        return self.control.issue_token(client_id)["access_token"]


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it Nagle plus
    # delayed ACKs add ~40 ms to every mid-sized response (measured: 45 ms -> 1 ms for a 12 kB page).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _server_class() -> type[Any]:
    import uvicorn

    class EmulatorServer(uvicorn.Server):
        """uvicorn's server, stopped in milliseconds instead of ~0.2 s.

        uvicorn notices ``should_exit`` only at its next 0.1 s tick, then sleeps a fixed 0.1 s after asking the
        connections to close and polls them every 0.1 s. Tests start and stop hundreds of emulators, so
        :meth:`request_exit` wakes the main loop at once and :meth:`shutdown` polls the drain every few milliseconds
        (bounded: a request still running after ``_DRAIN_TIMEOUT`` is cancelled, so a stop never hangs).
        """

        _loop: asyncio.AbstractEventLoop | None = None
        _wake: asyncio.Event | None = None

        def request_exit(self) -> None:
            """Ask the server to stop (from any thread); the main loop wakes at once."""
            self.should_exit = True  # set before reading _wake: main_loop creates _wake before reading should_exit
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed: the server has stopped
                    loop.call_soon_threadsafe(wake.set)

        async def main_loop(self) -> None:
            self._wake = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _TICK)
                should_exit = await self.on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()  # idle keep-alive connections close now; busy ones after their response
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _DRAIN_TIMEOUT
            state = self.server_state
            while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(_DRAIN_POLL)
            for task in list(state.tasks):
                task.cancel()
            for server in self.servers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(server.wait_closed(), _DRAIN_TIMEOUT)

    return EmulatorServer


def _server(app: Any, host: str, port: int, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_protocol_class(),
        lifespan="off",
        log_level=log_level,
        access_log=False,
        date_header=False,  # the app stamps Date from the emulator's clock
        timeout_keep_alive=30,
    )
    return _server_class()(config)


def _with_bound_host(config: EmulatorConfig | None, host: str) -> EmulatorConfig:
    """The config with the bound host among the accepted ``Host`` names (wildcard binds need explicit names)."""
    config = config or EmulatorConfig()
    name = host.strip("[]").lower()
    wildcard = name in ("::", "") or name == "0.0.0.0"  # noqa: S104 (names compared, nothing bound here)
    if wildcard or name in config.allowed_hosts:
        return config
    return replace(config, allowed_hosts=(*config.allowed_hosts, name))


@contextmanager
def run_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[EmulatorHandle]:
    """Start the emulator on ``host:port`` (0: a free port) in a thread; yield its handle; stop it on exit."""
    state = EmulatorState(_with_bound_host(config, host))
    app = create_app(state)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    server = _server(app, host, bound, log_level)
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="exact-emulator", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the emulator server failed to start")
            threading.Event().wait(0.005)
        shown = f"[{host}]" if ":" in host else host
        yield EmulatorHandle(f"http://{shown}:{bound}", state.config, state.clock, Control(state), state)
    finally:
        server.request_exit()
        thread.join(timeout=_DRAIN_TIMEOUT + 5)
        sock.close()
        state.close()


def serve(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 8901, log_level: str = "warning") -> None:
    """Run the emulator in the foreground until interrupted; prints ``EMULATOR_BASE_URL=...`` first."""
    state = EmulatorState(_with_bound_host(config, host))
    app = create_app(state)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"EMULATOR_BASE_URL=http://{shown}:{bound}", flush=True)
    server = _server(app, host, bound, log_level)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        state.close()
