"""A worker process that crashes hard in the middle of a run (for the crash test of the durable sync).

It lands batches and dies with ``os._exit`` just after S3 accepted batch ``crash_after`` and before its cursor was
saved: the worst moment for at-least-once delivery. No ``finally``, no lease given back: a real crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CrashSpec:
    base_url: str
    token: str
    aws_url: str
    table: str
    bucket: str
    endpoint: str
    division: int
    start: float
    crash_after: int
    env: dict[str, str]


def main(spec: CrashSpec) -> None:
    os.environ.update(spec.env)
    from exact_online_sdk import ExactOnlineClient
    from exact_online_sdk.clock import ManualClock
    from exact_online_sdk.scale import DynamoDbCursorStore, S3Sink, sync_to_s3
    from exact_online_sdk.scale import cursors as cursors_module

    saves = 0
    original = cursors_module.CursorLease.save

    def save_then_maybe_die(self: cursors_module.CursorLease, division: int, stream: str, timestamp: int) -> None:
        nonlocal saves
        saves += 1
        if saves == spec.crash_after:
            os._exit(137)  # the part is in S3; the cursor never moves
        original(self, division, stream, timestamp)

    cursors_module.CursorLease.save = save_then_maybe_die  # type: ignore[method-assign]
    clock = ManualClock(spec.start)
    client = ExactOnlineClient(access_token=spec.token, base_url=spec.base_url, division=spec.division, clock=clock)
    cursors = DynamoDbCursorStore(spec.table, connection="acme", endpoint_url=spec.aws_url, clock=clock)
    sink = S3Sink(spec.bucket, endpoint_url=spec.aws_url, clock=clock)
    sync_to_s3(client, cursors=cursors, sink=sink, division=spec.division, endpoint=spec.endpoint)
    os._exit(0)  # pragma: no cover - the crash comes first
