"""One process of the shared-token-file stress test: N threads calling get_token() in lockstep with the driver.

Importable by multiprocessing's spawn start method (no pytest fixtures here). Every step, the driver sets the shared
time and releases all threads of all processes at once (barrier ``go``); each thread calls ``get_token()`` or skips
the step (its own seeded coin), then waits at ``done`` until the driver moves time on.
"""

from __future__ import annotations

import random
import threading
from typing import Any

BARRIER_TIMEOUT = 60.0  # real seconds: a stuck step breaks the barriers and fails the test instead of hanging


def run_process(params: dict[str, Any], now: Any, stop: Any, go: Any, done: Any, results: Any) -> None:
    from exact_online_sdk.auth import EncryptedFileTokenStorage, ExactOnlineAuth
    from tests.support.shared_clock import SharedClock

    clock = SharedClock(now)
    auth = ExactOnlineAuth(
        storage=EncryptedFileTokenStorage(params["path"], params["key"]),
        base_url=params["base_url"],
        client_id=params["client_id"],
        client_secret=params["client_secret"],
        redirect_uri=params["redirect_uri"],
        clock=clock,
        writer=f"proc-{params['index']}",
    )
    errors: list[str] = []
    expired_handouts = 0
    calls: list[float] = []  # the instants at which this process's threads got a token
    lock = threading.Lock()

    def thread_main(n: int) -> None:
        nonlocal expired_handouts
        rng = random.Random(f"{params['seed']}-{params['index']}-{n}")
        while True:
            go.wait(BARRIER_TIMEOUT)
            if stop.value:
                return
            try:
                if rng.random() < params["call_probability"]:
                    token = auth.get_token()
                    at = clock.now()
                    with lock:
                        calls.append(at)
                        if token.expires_in(at) <= 0:
                            expired_handouts += 1
            except Exception as exc:  # recorded and asserted on by the test
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                done.wait(BARRIER_TIMEOUT)

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(params["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    auth.close()
    results.put({"index": params["index"], "errors": errors, "expired_handouts": expired_handouts, "calls": calls})
