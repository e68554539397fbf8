"""Issue 6 end to end: the real refresher handler every scaled minute against the emulator and the moto server,
while worker threads call Exact with read-only tokens. One ScaledClock is shared by all of them.

E2E_HOURS / E2E_SCALE tune the simulated length and the speed-up (defaults: 48 h for the clean run).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws import metrics_names as mn
from exact_online_sdk.aws._boto import make_secretsmanager_client
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.aws.worker import SecretsManagerTokenProvider
from exact_online_sdk.clock import ScaledClock

from tests.unit.aws.fakes import AwsFaults

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-aws")]

ROOT = Path(__file__).resolve().parents[2]
HOURS = float(os.environ.get("E2E_HOURS", "12"))
SCALE = float(os.environ.get("E2E_SCALE", "1200"))
SLOTS = ("exact/token-a", "exact/token-b")


class Ctx:
    function_name = "exact-token-refresher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-refresher"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 90_000


class Tap:
    """Copies the handler's metrics with the scaled time at which they were emitted."""

    def __init__(self, clock: ScaledClock) -> None:
        self.clock = clock
        self.points: list[tuple[float, str, float, dict[str, str]]] = []
        self.lock = threading.Lock()

    def put(self, name: str, value: float, unit: str, dimensions: Any = None) -> None:
        with self.lock:
            self.points.append((self.clock.now(), name, value, dict(dimensions or {})))

    def count(self, name: str, **dims: str) -> float:
        return sum(v for _, n, v, d in self.points if n == name and all(d.get(k) == x for k, x in dims.items()))


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def load_handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "lambdas" / "refresher" / "handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class World:
    """The emulator, the secrets on the moto server, the handler and the workers, on one clock."""

    def __init__(self, emu: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
        self.emu, self.clock = emu, emu.clock
        self.slots = (f"{prefix}/token-a", f"{prefix}/token-b")
        sm = make_secretsmanager_client(endpoint_url=moto_url)
        for name in (*self.slots, f"{prefix}/rescue"):
            sm.create_secret(Name=name)
        sm.create_secret(Name=f"{prefix}/client", SecretString=f'{{"client_secret": "{emu.config.client_secret}"}}')
        env = {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
            "EXACT_TOKEN_SECRET_A": self.slots[0],
            "EXACT_TOKEN_SECRET_B": self.slots[1],
            "EXACT_RESCUE_SECRET": f"{prefix}/rescue",
            "EXACT_CLIENT_ID": emu.config.client_id,
            "EXACT_CLIENT_SECRET_ARN": f"{prefix}/client",
            "EXACT_BASE_URL": emu.base_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_NAMESPACE": mn.NAMESPACE,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        self.sm = sm
        self.tap = Tap(self.clock)
        self.handler = load_handler(f"refresher_handler_{prefix.replace('-', '_')}")
        self.handler.configure(clock=self.clock, tap=self.tap)
        self.handler._state["refresher"] = self.handler.build_refresher()
        self.failures: list[tuple[float, str]] = []
        self.results: list[dict[str, Any]] = []
        self.worker_errors: list[tuple[float, str]] = []
        self.expired_seen = 0
        self.calls_ok = 0
        self.stop = threading.Event()

    def bootstrap(self, expected: int | None = None) -> None:
        pair = self.emu.control.issue_token()
        now = self.clock.now()
        gen = (expected or 0) + 1
        token = Token(pair["access_token"], pair["refresh_token"], now, now + float(pair["expires_in"]), gen)
        SecretsManagerTokenStorage(slots=self.slots, client=self.sm, clock=self.clock).save(
            token, expected_generation=expected
        )

    def invoke(self, handler: ModuleType | None = None) -> None:
        try:
            self.results.append((handler or self.handler).handler({"source": "aws.scheduler"}, Ctx()))
        except Exception as exc:
            self.failures.append((self.clock.now(), type(exc).__name__ + ": " + str(exc)[:80]))

    def worker(self) -> None:
        from exact_online_sdk.client import ExactOnlineClient

        store = SecretsManagerTokenStorage(slots=self.slots, client=make_secretsmanager_client(), clock=self.clock)
        provider = SecretsManagerTokenProvider(store, clock=self.clock, min_validity=15.0, poll_timeout=90.0)
        with ExactOnlineClient(auth=provider, base_url=self.emu.base_url, clock=self.clock) as client:
            while not self.stop.is_set():
                try:
                    token = provider.token()
                    if token.expires_in(self.clock.now()) <= 0:
                        self.expired_seen += 1
                    client.get("current/Me")
                    self.calls_ok += 1
                except Exception as exc:
                    self.worker_errors.append((self.clock.now(), type(exc).__name__))
                self.clock.sleep(20)

    def run(self, minutes: int, on_minute: Any = None, workers: int = 3) -> None:
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(workers)]
        for t in threads:
            t.start()
        origin = self.clock.now()
        try:
            for minute in range(1, minutes + 1):
                self.clock.sleep(origin + 60 * minute - self.clock.now())
                if on_minute is not None:
                    on_minute(minute)
                self.invoke()
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=30)

    def slot_write_times(self) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"A": [], "B": []}
        for when, name, _, dims in self.tap.points:
            if name == mn.SLOT_WRITES:
                times[dims[mn.DIMENSION_SLOT]].append(when)
        return times


@pytest.fixture
def emulator() -> Iterator[Any]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    config = EmulatorConfig(
        clock=ScaledClock(SCALE), minutely_limit=1_000_000, daily_limit=10**9, token_daily_limit=None
    )
    with run_emulator(config) as emu:
        yield emu


def test_48h_clean_run(emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(emulator, moto_url, monkeypatch, "clean")
    world.bootstrap()
    minutes = int(HOURS * 60)
    world.run(minutes)
    counters = emulator.control.counters()
    assert world.failures == []
    assert world.worker_errors == []
    assert world.expired_seen == 0
    assert world.calls_ok > minutes / 2  # workers called Exact all along
    assert (
        counters.get("rejected_refresh_tokens", 0) == 0
    )
    assert (
        counters.get("early_refreshes", 0) == 0
    )
    refreshes = world.tap.count(mn.REFRESHES)
    assert refreshes >= HOURS * 6 - 2
    for times in world.slot_write_times().values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 600  # never twice within 10 scaled minutes
        assert (times[-1] - times[0]) / max(1, len(gaps)) >= 600
    assert world.tap.count(mn.REFRESH_FAILURES) == 0


def test_faults_are_survived_or_alarmed(emulator: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(emulator, moto_url, monkeypatch, "faulty")
    refresher = world.handler._state["refresher"]
    aws = AwsFaults()
    aws.attach(refresher.store.client)
    twin = load_handler("refresher_handler_twin")  # a second container for concurrent duplicates
    twin.configure(clock=world.clock, tap=world.tap)
    world.bootstrap()
    drop_window: list[float] = []

    def on_minute(minute: int) -> None:
        if minute == 20:
            emulator.control.inject("status", times=2, path="oauth2/token", status=503)
        if minute == 40:
            aws.fail("PutSecretValue", 2, "ThrottlingException")
            aws.fail("GetSecretValue", 1, "ThrottlingException")
        if minute % 7 == 0:
            world.invoke()  # a duplicate delivery of the same event
        if minute % 11 == 0:
            t = threading.Thread(target=world.invoke, args=(twin,))
            t.start()
            world.invoke()
            t.join()
        if minute == 120:
            emulator.control.inject("token_drop", times=1)
            drop_window.append(world.clock.now())
        if minute == 150:
            current = SecretsManagerTokenStorage(slots=world.slots, client=world.sm).load(fresh=True)
            assert current is not None
            world.bootstrap(expected=current.generation)  # the operator re-consents after the alarm
            drop_window.append(world.clock.now())

    world.run(200, on_minute)
    counters = emulator.control.counters()
    reasons = {d.get(mn.DIMENSION_REASON) for _, n, _, d in world.tap.points if n == mn.REFRESH_FAILURES}
    # The dropped answer cannot be survived: it is alarmed (metric + rescue record), and never resent.
    assert reasons == {"OutcomeUnknown"}
    assert world.tap.count(mn.RESCUE_WRITES) >= 1
    assert all("OutcomeUnknown" in f for _, f in world.failures)
    # Everything else was survived: no worker error outside the broken-chain window, no expired token used.
    start, end = drop_window[0], drop_window[1] + 120
    outside = [e for e in world.worker_errors if not start <= e[0] <= end]
    assert outside == []
    assert world.expired_seen == 0
    assert counters.get("early_refreshes", 0) == 0
    # Only runs that lost a race to their concurrent twin met "Old refresh token used"; they report superseded.
    superseded = sum(1 for r in world.results if r["action"] == "superseded")
    assert counters.get("rejected_refresh_tokens", 0) <= superseded
    for times in world.slot_write_times().values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 600
