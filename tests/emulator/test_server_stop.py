"""Stopping an emulator: the thread ends, the port closes, and an open keep-alive connection does not hold it up."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "exact-emulator"]


def test_stopping_with_an_idle_keep_alive_connection_leaves_no_thread_and_no_listener() -> None:
    before = len(_emulator_threads())
    with run_emulator(EmulatorConfig(clock=ManualClock())) as emu:
        port = emu.port
        client = httpx.Client(base_url=emu.base_url, timeout=5)
        me = client.get("/api/v1/current/Me", headers={"Authorization": f"Bearer {emu.token()}"})
        assert me.status_code == 200  # the connection stays open (keep-alive) while the emulator stops
        assert len(_emulator_threads()) == before + 1
    try:
        assert len(_emulator_threads()) == before
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with pytest.raises(httpx.TransportError):  # the server closed the kept-alive connection
            client.get("/api/v1/current/Me")
    finally:
        client.close()


def test_a_stop_request_from_another_thread_wakes_the_server_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from exact_online_sdk.emulator import server as server_module

    monkeypatch.setattr(server_module, "_TICK", 3600.0)  # only the wake-up can end the loop within the test timeout
    server = server_module._server_class()(uvicorn.Config(app=None))

    async def run() -> None:
        task = asyncio.ensure_future(server.main_loop())
        await asyncio.sleep(0)  # the loop runs to its first wait
        assert server._wake is not None
        threading.Thread(target=server.request_exit).start()
        await asyncio.wait_for(task, timeout=20)

    asyncio.run(run())
    assert server.should_exit
