"""Scale out on AWS's own engines: many workers, many divisions, one app's limits (DESIGN decision 9).

What several workers must share lives in the stack's DynamoDB coordination table and an S3 bucket:

- :class:`DynamoDbRateBudget` / :func:`coordinated_budgets`: Exact's per-(app, division) rate budget, shared by every
  process and thread that calls Exact (conditional atomic updates per minute window, the daily window beside it).
- :class:`DynamoDbCursorStore`: the incremental-sync cursors, one per (connection, division, endpoint), each behind a
  lease so two workers never run the same cursor at once.
- :class:`S3Sink`: rows landed as gzip JSON lines, partitioned by connection/division/endpoint/run, deletions beside
  them, and a manifest per run.
- :func:`sync_to_s3`: one (connection, division, endpoint) synced end to end with all three.
- :class:`SharedVirtualClock`: virtual time shared by worker processes, for deterministic offline scenarios.

Items in the table are prefixed (``budget#``, ``cursor#``) so they never meet the refresher's ``lease#`` items.
Needs the ``[aws]`` extra (boto3). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._aws import create_coordination_table
    from .budget import DynamoDbRateBudget, coordinated_budgets, use_coordinated_budgets
    from .cursors import CursorLease, CursorLeaseHeld, CursorLeaseLost, DynamoDbCursorStore
    from .runner import UnitResult, sync_to_s3
    from .sink import LandingRun, S3Sink
    from .virtual_time import ClockStalled, SharedVirtualClock

__all__ = [
    "ClockStalled",
    "CursorLease",
    "CursorLeaseHeld",
    "CursorLeaseLost",
    "DynamoDbCursorStore",
    "DynamoDbRateBudget",
    "LandingRun",
    "S3Sink",
    "SharedVirtualClock",
    "UnitResult",
    "coordinated_budgets",
    "create_coordination_table",
    "sync_to_s3",
    "use_coordinated_budgets",
]

_LAZY = {
    "create_coordination_table": "._aws",
    "DynamoDbRateBudget": ".budget",
    "coordinated_budgets": ".budget",
    "use_coordinated_budgets": ".budget",
    "CursorLease": ".cursors",
    "CursorLeaseHeld": ".cursors",
    "CursorLeaseLost": ".cursors",
    "DynamoDbCursorStore": ".cursors",
    "UnitResult": ".runner",
    "sync_to_s3": ".runner",
    "LandingRun": ".sink",
    "S3Sink": ".sink",
    "ClockStalled": ".virtual_time",
    "SharedVirtualClock": ".virtual_time",
}

__getattr__ = lazy_exports(__name__, globals(), _LAZY)
