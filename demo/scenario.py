"""The demo's timeline: set everything up, then minute after minute the refresher runs and, every few minutes, the
worker syncs a round while users change things in Exact."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.sync import MemoryCursorStore, Sync
from tests.support.moto_server import client_config

from .activity import ENTITIES, SELECT, Activity, Sink, business_activity
from .services import REDIRECT_URI, Refresher, bootstrap, environment, moto_server
from .summary import DemoSummary, judge, peak_calls_per_minute, stdout_printer

__all__ = ["DemoOptions", "run_demo"]

SLOTS = ("exact-demo/token-a", "exact-demo/token-b")
DIVISION = 1001
WORKER_OFFSET = 30.0
"""Seconds into a round's first minute at which the worker syncs (the refresher runs at the minute's start)."""
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "exact-token-refresher",
}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How long the demo runs and how much data it moves."""

    rounds: int = 8
    round_minutes: int = 6
    """Simulated minutes from one sync round to the next (the refresher runs every minute in between)."""
    accounts: int = 3000
    invoices: int = 1200
    transaction_lines: int = 6000
    seed: int = 7


def run_demo(options: DemoOptions | None = None, *, say: Callable[[str], None] | None = None) -> DemoSummary:
    """Run the demo; ``say`` receives the progress lines. Returns the summary (``summary.ok`` for the verdict)."""
    import boto3

    opts = options or DemoOptions()
    say = say or stdout_printer()
    real_start = time.monotonic()
    clock = ManualClock()
    summary = DemoSummary()
    config = EmulatorConfig(
        clock=clock,
        divisions=(DIVISION,),
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
    with ExitStack() as stack:
        stack.enter_context(environment(AWS_ENV))
        emulator = stack.enter_context(run_emulator(config))
        moto_url = stack.enter_context(moto_server())
        say(f"emulator  {emulator.base_url}  (on a simulated clock: each round is {opts.round_minutes} minutes)")
        say(f"moto      {moto_url}  (Secrets Manager)")

        # Short timeouts and one attempt: a stalled server fails the demo in seconds instead of minutes.
        secrets = boto3.client("secretsmanager", endpoint_url=moto_url, config=client_config())
        for name in SLOTS:
            _fresh_secret(secrets, name, Description="Exact token slot (value written by the refresher)")
        rescue = _fresh_secret(secrets, "exact-demo/rescue")
        app_secret = _fresh_secret(
            secrets, "exact-demo/app", SecretString=json.dumps({"client_secret": config.client_secret})
        )

        store = SecretsManagerTokenStorage(None, slots=SLOTS, client=secrets, clock=clock, writer="demo", writable=True)
        first_generation = bootstrap(emulator.base_url, config.client_id, config.client_secret, store, clock)
        say(f"bootstrap authorization code exchanged; token generation {first_generation} stored in {SLOTS[0]}")

        stack.enter_context(
            environment(
                {
                    "EXACT_TOKEN_SECRET_A": SLOTS[0],
                    "EXACT_TOKEN_SECRET_B": SLOTS[1],
                    "EXACT_RESCUE_SECRET": rescue,
                    "EXACT_CLIENT_ID": config.client_id,
                    "EXACT_CLIENT_SECRET_ARN": app_secret,
                    "EXACT_BASE_URL": emulator.base_url,
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
                }
            )
        )
        refresher = Refresher(clock)
        say("refresher the real Lambda handler, invoked every minute (EventBridge Scheduler's rate)")

        worker = stack.enter_context(
            ExactOnlineClient.from_secrets_manager(
                None, slots=SLOTS, endpoint_url=moto_url, clock=clock, base_url=emulator.base_url, division=DIVISION
            )
        )
        cursors = MemoryCursorStore()
        sink = Sink()
        rng = random.Random(opts.seed)
        origin = clock.now()
        last_generation = first_generation
        # The run ends with the last round, so its line and the summary describe the same moment.
        for minute in range((opts.rounds - 1) * opts.round_minutes + 1):
            clock.set(max(clock.now(), origin + 60 * minute))
            refresher.invoke()
            if minute % opts.round_minutes:
                continue
            number = minute // opts.round_minutes + 1
            clock.set(max(clock.now(), origin + 60 * minute + WORKER_OFFSET))
            keys_before, deletions_before = sink.keys(), sink.deletions()
            report = Sync(worker, list(ENTITIES), cursor_store=cursors, division=DIVISION, select=SELECT).run(sink)
            activity = business_activity(worker, rng, DIVISION) if number < opts.rounds else None
            token = store.load()
            last_generation = token.generation if token else 0
            say(
                f"round {number}  t+{(clock.now() - origin) / 60:5.1f} min  synced {report.total_rows:>6,} rows "
                f"({sink.keys() - keys_before:,} new keys, {sink.deletions() - deletions_before} deletions)  "
                f"token generation {last_generation}  | activity: {_describe(activity)}"
            )

        counters = emulator.control.counters()
        calls = counters.get("calls", {})
        summary.rows = {ENTITIES[p]: len(keys) for p, keys in sink.seen.items()}
        summary.deletions = {ENTITIES[p]: n for p, n in sink.deleted.items()}
        summary.api_calls = int(sum(calls.values())) if isinstance(calls, dict) else int(calls)
        summary.peak_calls_per_minute = peak_calls_per_minute(emulator.control.requests())
        summary.generations = (first_generation, last_generation)
        summary.refreshes_at_exact = int(counters.get("refreshes", 0))
        summary.rejected_refreshes = int(counters.get("rejected_refresh_tokens", 0))
        summary.too_early_refreshes = int(counters.get("early_refreshes", 0))
        summary.throttled_429 = int(counters.get("rate_limited", 0))
        summary.worker_unauthorized = int(counters.get("unauthorized", 0))
        summary.handler_failures = len(refresher.failures)
        summary.simulated_minutes = (clock.now() - origin) / 60
    summary.real_seconds = time.monotonic() - real_start
    judge(summary, refresher.failures)
    return summary


def _fresh_secret(secrets: Any, name: str, **fields: Any) -> str:
    """Create ``name`` anew; moto keeps its state per process, so an earlier run in this process may have left it."""
    with contextlib.suppress(secrets.exceptions.ResourceNotFoundException):
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    return str(secrets.create_secret(Name=name, **fields)["ARN"])


def _describe(activity: Activity | None) -> str:
    # The last round only reads: what users change after it would reach the worker in a round that never comes.
    return activity.describe() if activity is not None else "none (the last round only reads)"
