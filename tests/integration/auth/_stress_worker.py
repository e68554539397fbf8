"""One process of the shared-token-file stress test: N threads calling get_token() on a shared scaled clock.

Importable by multiprocessing's spawn start method (no pytest fixtures here).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any


def run_process(params: dict[str, Any]) -> dict[str, Any]:
    from exact_online_sdk.auth import EncryptedFileTokenStorage, ExactOnlineAuth
    from exact_online_sdk.clock import ScaledClock

    clock = ScaledClock(params["scale"], origin=params["origin"], real_origin=params["real_origin"])
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
    calls = 0
    lock = threading.Lock()
    rng = random.Random(params["index"])
    sleeps = [rng.uniform(1.0, 8.0) for _ in range(1000)]

    def thread_main(n: int) -> None:
        nonlocal expired_handouts, calls
        i = n
        while time.time() < params["deadline"]:
            try:
                token = auth.get_token()
            except Exception as exc:  # recorded and asserted on by the test
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)
                continue
            now = clock.now()
            with lock:
                calls += 1
                if token.expires_in(now) <= 0:
                    expired_handouts += 1
            if token.generation >= params["target_generation"]:
                return
            i += 1
            clock.sleep(sleeps[i % len(sleeps)])

    while time.time() < params["real_origin"]:
        time.sleep(0.001)
    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(params["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    auth.close()
    return {"errors": errors, "expired_handouts": expired_handouts, "calls": calls}


def warm_up(_: int) -> int:
    """Import everything a worker needs before the scaled clock starts (imports take real seconds)."""
    import importlib

    for name in ("httpx", "cryptography.fernet", "exact_online_sdk.auth.file", "exact_online_sdk.auth.manager"):
        importlib.import_module(name)

    return 0
