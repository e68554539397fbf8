"""``make demo``: the whole system, offline, on a scaled clock, in about a minute.

What runs (everything on 127.0.0.1, stopped at the end):
1. the Exact Online emulator and a moto Secrets Manager server, sharing one clock running ``scale`` times faster;
2. the OAuth bootstrap: authorization (auto-consent) and code exchange, writing generation 1 into the two secret
   slots (as ``exact-online auth login`` or the bootstrap Lambda do);
3. the real refresher Lambda handler (``lambdas/refresher/handler.py``), invoked every scaled minute as the
   EventBridge schedule would, rotating the token about every ten scaled minutes;
4. a read-only worker (``ExactOnlineClient.from_secrets_manager``) syncing accounts, sales invoices and transaction
   lines incrementally, round after round, while business activity changes and deletes records between rounds.
It ends with a summary and exits non-zero if an invariant broke (a 429, a 401 in a worker, a broken token chain).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx

from .clock import ScaledClock
from .sync import MemoryCursorStore, Sync, SyncBatch

__all__ = ["DemoOptions", "DemoSummary", "print_summary", "run_demo", "stdout_printer"]

ENTITIES = {
    "sync/CRM/Accounts": "accounts",
    "sync/SalesInvoice/SalesInvoices": "sales invoices",
    "sync/Financial/TransactionLines": "transaction lines",
}
SELECT = {
    "sync/CRM/Accounts": ["ID", "Code", "Name", "City", "Timestamp"],
    "sync/SalesInvoice/SalesInvoices": ["InvoiceID", "InvoiceNumber", "AmountDC", "Description", "Timestamp"],
    "sync/Financial/TransactionLines": ["ID", "EntryNumber", "AmountDC", "GLAccountCode", "Timestamp"],
}
KEY = {"sync/SalesInvoice/SalesInvoices": "InvoiceID"}
REDIRECT_URI = "https://demo.example.com/exact/callback"
SLOTS = ("exact-demo/token-a", "exact-demo/token-b")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How long and how fast the demo runs."""

    scale: float = 60.0
    """Scaled seconds per real second (60: a minute per second, a token lifetime every 10 s)."""
    rounds: int = 8
    round_minutes: float = 6.0
    accounts: int = 3000
    invoices: int = 1200
    transaction_lines: int = 6000
    seed: int = 7


@dataclass(slots=True)
class DemoSummary:
    """What the run did, and whether every invariant held."""

    rows: dict[str, int] = field(default_factory=dict)
    deletions: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    peak_calls_per_minute: int = 0
    minutely_limit: int = 60
    daily_limit: int = 5000
    generations: tuple[int, int] = (0, 0)
    refreshes_at_exact: int = 0
    rejected_refreshes: int = 0
    too_early_refreshes: int = 0
    throttled_429: int = 0
    worker_unauthorized: int = 0
    handler_failures: int = 0
    scaled_minutes: float = 0.0
    real_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no invariant broke."""
        return not self.problems


class _Ctx:
    """The bits of a Lambda context the handler reads."""

    function_name = "exact-token-refresher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-refresher"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 90_000


def _repo_root() -> Path:
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "lambdas" / "refresher" / "handler.py").is_file():
            return candidate
    raise RuntimeError("the demo runs the refresher from lambdas/refresher/handler.py: run it from a clone (make demo)")


def _load_handler(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_refresher_handler", root / "lambdas/refresher/handler.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load lambdas/refresher/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _moto_server() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the demo needs moto[server] (installed by make demo)") from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call is noise here
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _bootstrap(base_url: str, client_id: str, client_secret: str, store: Any, clock: Any) -> int:
    """Authorization-code flow against the emulator (auto-consent), then generation 1 into the slots."""
    from .auth.oauth import OAuthEndpoint, parse_callback

    state = uuid.uuid4().hex
    query = urlencode({"client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code", "state": state})
    answer = httpx.get(f"{base_url}/api/oauth2/auth?{query}", follow_redirects=False)
    if answer.status_code != 302:
        raise RuntimeError(f"authorization did not redirect (HTTP {answer.status_code})")
    code, returned_state = parse_callback(answer.headers["location"])
    if returned_state != state:
        raise RuntimeError("state mismatch on the authorization callback")
    with OAuthEndpoint(base_url, client_id, client_secret, REDIRECT_URI, clock=clock) as endpoint:
        token = endpoint.exchange_code(code)
    store.save(token.replace(writer="demo-bootstrap"), expected_generation=None)
    return token.generation


class _Refresher(threading.Thread):
    """Invokes the real handler once per scaled minute, one invocation at a time (reserved concurrency 1)."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], Any], clock: ScaledClock) -> None:
        super().__init__(name="refresher-schedule", daemon=True)
        self.handler = handler
        self.clock = clock
        self.stop = threading.Event()
        self.invocations = 0
        self.failures: list[str] = []
        self.refreshed: list[int] = []

    def run(self) -> None:
        while not self.stop.is_set():
            started = self.clock.now()
            try:
                # The handler prints its EMF metrics and JSON logs to stdout, as Lambda expects; keep them out of
                # the demo's output (which is written to the original stdout object, see run_demo).
                with contextlib.redirect_stdout(io.StringIO()):
                    result = self.handler({"source": "aws.scheduler"}, _Ctx())
                if isinstance(result, dict) and result.get("action") == "refreshed":
                    self.refreshed.append(int(result["generation"]))
            except Exception as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.invocations += 1
            next_minute = (started // 60 + 1) * 60
            self.stop.wait(max(0.0, next_minute - self.clock.now()) / self.clock.scale)


def _activity(client: Any, rng: random.Random, division: int) -> dict[str, int]:
    """Business activity between two sync rounds: new, changed and deleted accounts and invoices."""
    done = {"created": 0, "updated": 0, "deleted": 0}
    accounts = list(client.get("crm/Accounts", {"$select": "ID", "$top": 60}, division=division))
    invoices = list(client.get("salesinvoice/SalesInvoices", {"$select": "InvoiceID", "$top": 60}, division=division))
    for _ in range(2):
        client.post(
            "crm/Accounts", {"Name": f"New customer {rng.randrange(10**6)}", "City": "Delft"}, division=division
        )
        done["created"] += 1
    for row in rng.sample(accounts, 4):
        client.put(
            f"crm/Accounts(guid'{row['ID']}')", {"City": rng.choice(["Utrecht", "Gent", "Leeds"])}, division=division
        )
        done["updated"] += 1
    for row in rng.sample(invoices, 2):
        client.put(
            f"salesinvoice/SalesInvoices(guid'{row['InvoiceID']}')", {"Description": "corrected"}, division=division
        )
        done["updated"] += 1
    victims = [("crm/Accounts", r["ID"]) for r in rng.sample(accounts, 2)]
    victims += [("salesinvoice/SalesInvoices", r["InvoiceID"]) for r in rng.sample(invoices, 1)]
    for path, key in victims:
        client.delete(f"{path}(guid'{key}')", division=division)
        done["deleted"] += 1
    return done


def stdout_printer() -> Callable[[str], None]:
    out = sys.stdout  # bound now: the refresher thread swaps sys.stdout while its handler runs

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return say


def run_demo(options: DemoOptions | None = None, *, say: Callable[[str], None] | None = None) -> DemoSummary:
    """Run the demo; ``say`` receives the progress lines. Returns the summary (``summary.ok`` for the verdict)."""
    import boto3

    say = say or stdout_printer()

    from .emulator import EmulatorConfig, run_emulator

    opts = options or DemoOptions()
    real_start = time.monotonic()
    clock = ScaledClock(opts.scale)
    summary = DemoSummary()
    root = _repo_root()
    config = EmulatorConfig(
        clock=clock,
        divisions=(1001,),
        rows=200,
        table_rows={
            "crm/Accounts": opts.accounts,
            "salesinvoice/SalesInvoices": opts.invoices,
            "financialtransaction/TransactionLines": opts.transaction_lines,
        },
        redirect_uris=(REDIRECT_URI,),
        seed=opts.seed,
    )
    summary.minutely_limit, summary.daily_limit = config.minutely_limit, config.daily_limit
    aws_env = {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "exact-token-refresher",
    }
    with ExitStack() as stack:
        stack.enter_context(_environment(aws_env))
        emulator = stack.enter_context(run_emulator(config))
        moto_url = stack.enter_context(_moto_server())
        say(f"emulator  {emulator.base_url}  (clock x{opts.scale:g}: one scaled minute per {60 / opts.scale:g} s)")
        say(f"moto      {moto_url}  (Secrets Manager)")

        secrets = boto3.client("secretsmanager", endpoint_url=moto_url)
        for name in SLOTS:
            secrets.create_secret(Name=name, Description="Exact token slot (value written by the refresher)")
        rescue = secrets.create_secret(Name="exact-demo/rescue")["ARN"]
        app_secret = secrets.create_secret(
            Name="exact-demo/app", SecretString=json.dumps({"client_secret": config.client_secret})
        )["ARN"]

        from .aws.slots import SecretsManagerTokenStorage

        store = SecretsManagerTokenStorage(None, slots=SLOTS, client=secrets, clock=clock, writer="demo", writable=True)
        generation = _bootstrap(emulator.base_url, config.client_id, config.client_secret, store, clock)
        say(f"bootstrap authorization code exchanged; token generation {generation} stored in {SLOTS[0]}")

        handler_env = {
            "EXACT_TOKEN_SECRET_A": SLOTS[0],
            "EXACT_TOKEN_SECRET_B": SLOTS[1],
            "EXACT_RESCUE_SECRET": rescue,
            "EXACT_CLIENT_ID": config.client_id,
            "EXACT_CLIENT_SECRET_ARN": app_secret,
            "EXACT_BASE_URL": emulator.base_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
        }
        stack.enter_context(_environment(handler_env))
        module = _load_handler(root)
        module.configure(clock=clock)
        refresher = _Refresher(module.handler, clock)
        refresher.start()
        stack.callback(refresher.join, 10)
        stack.callback(refresher.stop.set)
        say("refresher the real Lambda handler, invoked every scaled minute (EventBridge Scheduler's rate)")

        from .client import ExactOnlineClient

        worker = stack.enter_context(
            ExactOnlineClient.from_secrets_manager(
                None, slots=SLOTS, endpoint_url=moto_url, clock=clock, base_url=emulator.base_url, division=1001
            )
        )
        cursors = MemoryCursorStore()
        seen: dict[str, set[str]] = {path: set() for path in ENTITIES}
        deleted: dict[str, int] = dict.fromkeys(ENTITIES, 0)
        rng = random.Random(opts.seed)
        started = clock.now()

        def consume(batch: SyncBatch) -> None:
            if batch.kind == "deletions":
                if batch.endpoint in deleted:  # an empty sync/Deleted page carries only the cursor
                    deleted[batch.endpoint] += len(batch.rows)
                return
            key = KEY.get(batch.endpoint, "ID")
            seen[batch.endpoint].update(str(row[key]) for row in batch.rows)

        for number in range(1, opts.rounds + 1):
            round_start = clock.now()
            before = {p: len(s) for p, s in seen.items()}
            deleted_before = sum(deleted.values())
            engine = Sync(worker, list(ENTITIES), cursor_store=cursors, division=1001, select=SELECT)
            report = engine.run(consume)
            activity = _activity(worker, rng, 1001) if number < opts.rounds else {}
            token = store.load()
            gen = token.generation if token else 0
            minute = (clock.now() - started) / 60
            new_rows = sum(len(s) for s in seen.values()) - sum(before.values())
            line = (
                f"round {number}  t+{minute:5.1f} min  synced {report.total_rows:>6,} rows "
                f"({new_rows:,} new keys, {sum(deleted.values()) - deleted_before} deletions)  token generation {gen}"
            )
            if activity:
                line += f"  | activity: {activity['created']} new, {activity['updated']} changed, "
                line += f"{activity['deleted']} deleted"
            say(line)
            # Wait out the rest of the round on the scaled clock (tokens keep rotating meanwhile).
            remaining = round_start + opts.round_minutes * 60 - clock.now()
            if remaining > 0:
                clock.sleep(remaining)

        refresher.stop.set()
        refresher.join(10)
        counters = emulator.control.counters()
        slot_states = store.load()
        summary.rows = {ENTITIES[p]: len(s) for p, s in seen.items()}
        summary.deletions = {ENTITIES[p]: n for p, n in deleted.items()}
        calls = counters.get("calls", {})
        summary.api_calls = int(sum(calls.values())) if isinstance(calls, dict) else int(calls)
        summary.peak_calls_per_minute = _peak_per_minute(emulator.control.requests(), clock)
        summary.generations = (generation, slot_states.generation if slot_states else 0)
        summary.refreshes_at_exact = int(counters.get("refreshes", 0))
        summary.rejected_refreshes = int(counters.get("rejected_refresh_tokens", 0))
        summary.too_early_refreshes = int(counters.get("early_refreshes", 0))
        summary.throttled_429 = int(counters.get("rate_limited", 0))
        summary.worker_unauthorized = int(counters.get("unauthorized", 0))
        summary.handler_failures = len(refresher.failures)
        summary.scaled_minutes = (clock.now() - started) / 60
    summary.real_seconds = time.monotonic() - real_start
    _judge(summary, refresher.failures)
    return summary


def _peak_per_minute(requests: list[dict[str, Any]], clock: ScaledClock) -> int:
    per_minute: dict[int, int] = {}
    for entry in requests:
        when = entry.get("at") or entry.get("time") or entry.get("ts")
        path = str(entry.get("path", ""))
        if when is None or not path.startswith("/api/v1/"):
            continue
        minute = int(float(when) // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    return max(per_minute.values(), default=0)


def _judge(summary: DemoSummary, failures: list[str]) -> None:
    if summary.throttled_429:
        summary.problems.append(f"{summary.throttled_429} responses were 429")
    if summary.worker_unauthorized:
        summary.problems.append(f"{summary.worker_unauthorized} API calls were refused with 401")
    if summary.rejected_refreshes or summary.too_early_refreshes:
        summary.problems.append("the token endpoint refused a refresh (broken or early chain)")
    if failures:
        summary.problems.append(f"{len(failures)} refresher invocations failed: {failures[0]}")
    if summary.generations[1] <= summary.generations[0]:
        summary.problems.append("the token never rotated")
    if not summary.deletions or not any(summary.deletions.values()):
        summary.problems.append("no deletion reached the worker")


def print_summary(summary: DemoSummary, say: Callable[[str], None] = print) -> None:
    """The closing table, as plain text."""
    width = max(len(k) for k in summary.rows) if summary.rows else 10
    say("")
    say("summary")
    for entity, count in summary.rows.items():
        say(f"  {entity:<{width}}  {count:>7,} rows   {summary.deletions.get(entity, 0):>4} deletions")
    say(
        f"  API calls          {summary.api_calls:,} (daily limit {summary.daily_limit:,}); "
        f"busiest minute {summary.peak_calls_per_minute} of {summary.minutely_limit}"
    )
    say(
        f"  token generations  {summary.generations[0]} -> {summary.generations[1]} "
        f"({summary.refreshes_at_exact} refreshes at Exact, {summary.rejected_refreshes} rejected, "
        f"{summary.too_early_refreshes} too early)"
    )
    say(f"  429s drawn         {summary.throttled_429}")
    say(f"  worker 401s        {summary.worker_unauthorized}")
    say(f"  scaled time        {summary.scaled_minutes:.0f} minutes in {summary.real_seconds:.0f} s real time")
    say("  verdict            " + ("OK" if summary.ok else "FAILED: " + "; ".join(summary.problems)))


def main(argv: list[str] | None = None) -> int:
    """``python -m exact_online_sdk.demo``."""
    say = stdout_printer()
    summary = run_demo(say=say)
    print_summary(summary, say)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
