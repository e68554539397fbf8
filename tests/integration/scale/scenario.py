"""Several worker processes reading Exact at full speed, deterministically: the emulator, a moto server, virtual time.

Layout: the test process runs the emulator (on a :class:`SharedVirtualClock`) and the moto server; each worker is a
``spawn``-ed process with one thread per reader, every reader an actor of the clock. Time moves only when every
reader waits (a pacing wait), so the run's timeline does not depend on how fast the machine is: a call happens at the
virtual instant it was granted, however long the HTTP and DynamoDB round trips take in real time.

The benchmark ``benchmarks/bench_scale.py`` runs the same scenarios with larger figures.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import threading
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from exact_online_sdk.scale.virtual_time import SharedVirtualClock

PATH = "crm/Accounts"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the scenario starts on a minute boundary
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
}


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker process does: one reader thread per entry of ``divisions`` (each on its reserved slot)."""

    divisions: tuple[int, ...]
    slots: tuple[int, ...]
    clock: SharedVirtualClock
    base_url: str
    token: str
    client_id: str
    until: float
    aws_url: str | None
    table: str | None
    results: Any
    env: dict[str, str] = field(default_factory=dict)


def worker_main(spec: WorkerSpec) -> None:
    """The body of a worker process."""
    os.environ.update(spec.env)
    from exact_online_sdk.scale._aws import make_dynamodb_client
    from exact_online_sdk.scale.budget import coordinated_budgets

    provider = None
    requests: Counter[str] = Counter()  # DynamoDB requests by operation (what the shared budget costs)
    if spec.table:
        # The moto server answers one request at a time for every worker on a shared, loaded machine: give it far
        # longer than DynamoDB's milliseconds, so a slow answer is not taken for an outage (``fallbacks`` says).
        client = make_dynamodb_client(endpoint_url=spec.aws_url, read_timeout=60.0)
        client.meta.events.register("before-call.dynamodb", lambda model, **_: requests.update([model.name]))
        provider = coordinated_budgets(spec.table, client=client)
    threads = [
        threading.Thread(target=_reader, args=(spec, division, slot, provider), name=f"reader-{division}-{slot}")
        for division, slot in zip(spec.divisions, spec.slots, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fallbacks = sum(b.fallbacks for b in provider.budgets()) if provider is not None else 0
    spec.results.put({"process": os.getpid(), "fallbacks": fallbacks, "dynamodb": dict(requests)})


def _reader(spec: WorkerSpec, division: int, slot: int, provider: Any) -> None:
    from exact_online_sdk import ExactOnlineClient

    calls = rows = 0
    error = None
    with spec.clock.actor(slot):
        try:
            options: dict[str, Any] = {"budgets": provider} if provider is not None else {}
            with ExactOnlineClient(
                access_token=spec.token,
                base_url=spec.base_url,
                clock=spec.clock,
                client_id=spec.client_id,
                division=division,
                **options,
            ) as client:
                while spec.clock.now() < spec.until:
                    for page in client.iter_pages(PATH, {"$select": "ID"}):
                        calls += 1
                        rows += len(page.rows)
                        if spec.clock.now() >= spec.until:
                            break
        except BaseException as exc:  # reported to the test
            error = "".join(traceback.format_exception(exc))[-2000:]
    spec.results.put({"division": division, "calls": calls, "rows": rows, "error": error})


@dataclass
class Outcome:
    """What a scenario did, as the emulator saw it."""

    readers: list[dict[str, Any]]
    log: list[dict[str, Any]]
    start: float
    until: float
    fallbacks: int = 0
    """Times a worker found DynamoDB unavailable and paced on its own for a while (0: the proof is coordination)."""
    dynamodb: Counter[str] = field(default_factory=Counter)
    """DynamoDB requests the workers made, by operation."""

    @property
    def errors(self) -> list[str]:
        return [r["error"] for r in self.readers if r["error"]]

    def rejected(self, division: int | None = None) -> int:
        return sum(1 for e in self.log if e["status"] == 429 and division in (None, e["division"]))

    def per_minute(self, division: int) -> list[int]:
        """Calls Exact answered (not 429) for ``division`` in each whole minute of the run."""
        counts = Counter(
            math.floor(e["time"] / 60) for e in self.log if e["division"] == division and e["status"] != 429
        )
        first, last = math.floor(self.start / 60), math.floor(self.until / 60)
        return [counts.get(m, 0) for m in range(first, last)]


def run_workers(
    clock: SharedVirtualClock,
    emu: Any,
    layout: Sequence[Sequence[int]],
    *,
    minutes: float,
    aws_url: str | None,
    table: str | None,
    extra_actors: Sequence[Any] = (),
    timeout: float = 240.0,
) -> Outcome:
    """Run one process per entry of ``layout`` (its readers' divisions) until ``minutes`` of virtual time passed.
    ``extra_actors`` are callables run in threads of this process as actors too (uncoordinated traffic)."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = clock.now()
    until = start + minutes * 60
    token = emu.token()
    client_id = emu.config.client_id
    processes = []
    env = {**AWS_ENV}
    for divisions in layout:
        slots = tuple(clock.reserve() for _ in divisions)
        spec = WorkerSpec(
            tuple(divisions), slots, clock, emu.base_url, token, client_id, until, aws_url, table, results, env
        )
        process = ctx.Process(target=worker_main, args=(spec,), daemon=True)
        processes.append(process)
    extra = [
        threading.Thread(target=_as_actor, args=(clock, clock.reserve(), fn, until), daemon=True) for fn in extra_actors
    ]
    for process in processes:
        process.start()
    for thread in extra:
        thread.start()
    expected = sum(len(d) for d in layout) + len(layout)  # every reader, then every process
    readers: list[dict[str, Any]] = []
    fallbacks = 0
    dynamodb: Counter[str] = Counter()
    try:
        while len(readers) < expected:
            report = results.get(timeout=timeout)
            if "process" in report:
                fallbacks += report["fallbacks"]
                dynamodb.update(report["dynamodb"])
                expected -= 1
            else:
                readers.append(report)
    except queue.Empty:
        raise AssertionError(f"only {len(readers)} of {expected} readers finished within {timeout:g} s") from None
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        for thread in extra:
            thread.join(timeout=10)
    log = [e for e in emu.control.requests() if e.get("division") is not None and "/api/v1/" in e["path"]]
    return Outcome(readers, log, start, until, fallbacks, dynamodb)


def _as_actor(clock: SharedVirtualClock, slot: int, fn: Any, until: float) -> None:
    with clock.actor(slot):
        fn(until)


@contextmanager
def coordination_table(aws_url: str) -> Iterator[str]:
    """A fresh coordination table on the moto server (as the stack creates it)."""
    import uuid

    import boto3

    from exact_online_sdk.scale._aws import create_coordination_table

    name = f"coordination-{uuid.uuid4().hex[:8]}"
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=aws_url,
        region_name=AWS_ENV["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_coordination_table(client, name)
    yield name
