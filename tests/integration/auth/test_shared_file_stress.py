"""8 threads x 4 processes share one encrypted token file across 100 token lifetimes on a scaled clock.

Exact (the emulator, on the same scaled clock) must see exactly one refresh per lifetime, no "Old refresh token
used" and no too-early refusal.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
from cryptography.fernet import Fernet

from exact_online_sdk.auth import EncryptedFileTokenStorage, ExactOnlineAuth
from exact_online_sdk.clock import ScaledClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from ._stress_worker import run_process, warm_up

SCALE = 4000.0
LIFETIMES = 100
PROCESSES = 4
THREADS = 8
ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00:00Z on the scaled clock
REDIRECT = "https://app.example/callback"


@pytest.mark.slow
def test_processes_and_threads_share_one_token_chain(tmp_path):
    key = Fernet.generate_key().decode()
    path = tmp_path / "token.bin"
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as pool:
        list(pool.map(warm_up, range(PROCESSES)))  # start and import before the scaled clock starts
        start = time.time() + 0.5
        clock = ScaledClock(SCALE, origin=ORIGIN, real_origin=start)
        config = EmulatorConfig(clock=clock, token_daily_limit=None, redirect_uris=(REDIRECT,), code_lifetime=10**9)
        with run_emulator(config) as emu:
            store = EncryptedFileTokenStorage(path, key)
            boot = ExactOnlineAuth(
                storage=store,
                base_url=emu.base_url,
                client_id=DEFAULT_CLIENT_ID,
                client_secret=DEFAULT_CLIENT_SECRET,
                redirect_uri=REDIRECT,
                clock=clock,
            )
            while time.time() < start:
                time.sleep(0.001)
            assert boot.exchange_code(emu.control.authorize(redirect_uri=REDIRECT)).generation == 1
            params = {
                "base_url": emu.base_url,
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "redirect_uri": REDIRECT,
                "path": str(path),
                "key": key,
                "scale": SCALE,
                "origin": ORIGIN,
                "real_origin": start,
                "threads": THREADS,
                "target_generation": LIFETIMES + 1,
                "deadline": time.time() + 120,
            }
            t0 = time.time()
            results = list(pool.map(run_process, [{**params, "index": i} for i in range(PROCESSES)]))
            elapsed = time.time() - t0
            counters = emu.control.counters()
            refreshes = [
                r
                for r in emu.control.requests()
                if r["path"] == "/api/oauth2/token" and r["grant_type"] == "refresh_token"
            ]
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    final = store.load()
    assert final is not None
    assert final.generation >= LIFETIMES + 1
    assert counters["refreshes"] == final.generation - 1  # exactly one refresh per lifetime
    assert counters.get("rejected_refresh_tokens", 0) == 0  # no "Old refresh token used"
    assert counters.get("early_refreshes", 0) == 0  # no TooEarlyToRefreshTokens
    assert all(r["status"] == 200 for r in refreshes)
    times = [r["time"] for r in refreshes]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 570
    print(
        f"real={elapsed:.1f}s scaled={times[-1] - ORIGIN:.0f}s refreshes={len(times)} "
        f"gap min={min(gaps):.1f} max={max(gaps):.1f} "
        f"mean={sum(gaps) / len(gaps):.1f} calls={sum(r['calls'] for r in results)} "
        f"expired_handouts={sum(r['expired_handouts'] for r in results)}"
    )
