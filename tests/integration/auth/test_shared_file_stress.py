"""8 threads x 4 processes share one encrypted token file across 25 token lifetimes, on a clock they all share.

Exact (the emulator, on the same clock) must see exactly one refresh per lifetime, no "Old refresh token used", no
too-early refusal, and no caller may ever be handed an expired token. The driver moves time in steps and releases
every thread of every process at once at each step, so the refresh instant is a real stampede of up to 32 callers in
4 processes racing on the file locks and the token endpoint; how fast the machine runs them changes nothing in the
timeline. Steps are a minute long while the token is young and 1-8 s (seeded) from 540 s on, where the refresh falls
(Exact refuses it before 570 s): the boring middle of a lifetime is crossed quickly, the race is stepped finely.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random

import pytest
from cryptography.fernet import Fernet

from exact_online_sdk.auth import EncryptedFileTokenStorage, ExactOnlineAuth
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.support.shared_clock import SharedClock

from ._stress_worker import BARRIER_TIMEOUT, run_process

LIFETIMES = 25  # each lifetime replays the same race; 25 show it as well as the earlier 100
PROCESSES = 4
THREADS = 8
CALL_PROBABILITY = 0.5  # each thread calls in about every other step: a different crowd races each time
STEPS = (1.0, 2.0, 3.0, 5.0, 8.0)  # seconds between steps near the refresh, drawn with a fixed seed
YOUNG = 540.0  # a token younger than this takes minute steps
MAX_STEPS = 20_000
ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REDIRECT = "https://app.example/callback"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_processes_and_threads_share_one_token_chain(tmp_path):
    key = Fernet.generate_key().decode()
    path = tmp_path / "token.bin"
    ctx = multiprocessing.get_context("spawn")
    now = ctx.Value("d", ORIGIN)
    stop = ctx.Value("b", 0)
    go = ctx.Barrier(PROCESSES * THREADS + 1)
    done = ctx.Barrier(PROCESSES * THREADS + 1)
    results = ctx.Queue()
    clock = SharedClock(now)
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
        assert boot.exchange_code(emu.control.authorize(redirect_uri=REDIRECT)).generation == 1
        params = {
            "base_url": emu.base_url,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "redirect_uri": REDIRECT,
            "path": str(path),
            "key": key,
            "threads": THREADS,
            "call_probability": CALL_PROBABILITY,
            "seed": 18,
        }
        processes = [
            ctx.Process(target=run_process, args=({**params, "index": i}, now, stop, go, done, results))
            for i in range(PROCESSES)
        ]
        for p in processes:
            p.start()
        rng = random.Random(18)
        steps = 0
        issued, seen = clock.now(), 0
        try:
            while (refreshed := emu.control.counters().get("refreshes", 0)) < LIFETIMES and steps < MAX_STEPS:
                if refreshed != seen:  # the last step refreshed: the token was issued at that instant
                    issued, seen = clock.now(), refreshed
                step = 60.0 if clock.now() + 60.0 - issued < YOUNG else rng.choice(STEPS)
                clock.set(clock.now() + step)
                go.wait(BARRIER_TIMEOUT)  # every thread of every process takes its step at this instant...
                done.wait(BARRIER_TIMEOUT)  # ...and is back before time moves on
                steps += 1
        finally:
            stop.value = 1
            go.wait(BARRIER_TIMEOUT)
            reports = [results.get(timeout=BARRIER_TIMEOUT) for _ in processes]
            for p in processes:
                p.join(timeout=30)
        counters = emu.control.counters()
        refreshes = [
            r for r in emu.control.requests() if r["path"] == "/api/oauth2/token" and r["grant_type"] == "refresh_token"
        ]
    errors = [e for r in reports for e in r["errors"]]
    assert errors == []
    assert sum(r["expired_handouts"] for r in reports) == 0
    final = store.load()
    assert final is not None
    assert final.generation == LIFETIMES + 1
    assert counters["refreshes"] == LIFETIMES  # exactly one refresh per lifetime...
    assert counters.get("rejected_refresh_tokens", 0) == 0  # ...no "Old refresh token used"...
    assert counters.get("early_refreshes", 0) == 0  # ...and no TooEarlyToRefreshTokens
    assert all(r["status"] == 200 for r in refreshes)
    times = [r["time"] for r in refreshes]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 570
    # Each refresh happened in a crowd: several processes asked for a token at that very instant.
    calls_at = [{r["index"] for r in reports if t in r["calls"]} for t in times]
    assert all(len(procs) >= 2 for procs in calls_at), calls_at
    assert all(p.exitcode == 0 for p in processes)
