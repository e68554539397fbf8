"""One unit of work, end to end: sync one (connection, division, endpoint) from its durable cursor into S3.

:func:`sync_to_s3` takes the unit's lease (or reports it busy and returns), recovers the run a crashed holder left
behind, lands every batch with the :class:`~exact_online_sdk.scale.sink.S3Sink`, moves the cursor after each
landed batch (at-least-once), writes the run's manifest and gives the lease back. Workers call it for every unit,
in parallel, without caring who else runs: two calls for the same unit never run it twice at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import ExactOnlineClient
from ..sync import DELETED_STREAM, Sync
from .cursors import CursorLeaseHeld, DynamoDbCursorStore
from .sink import S3Sink

__all__ = ["UnitResult", "sync_to_s3"]

log = logging.getLogger("exact_online_sdk.scale.runner")


@dataclass(frozen=True, slots=True)
class UnitResult:
    """What one call of :func:`sync_to_s3` did. ``status`` is ``"synced"`` or ``"busy"`` (another worker holds the
    unit; ``holder`` says who)."""

    connection: str
    division: int
    endpoint: str
    status: str
    run_id: str | None = None
    rows: int = 0
    deletions: int = 0
    parts: int = 0
    manifest: str | None = None
    recovered_run: str | None = None
    holder: str | None = None
    cursor: dict[str, int | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "division": self.division,
            "endpoint": self.endpoint,
            "status": self.status,
            "run_id": self.run_id,
            "rows": self.rows,
            "deletions": self.deletions,
            "parts": self.parts,
            "manifest": self.manifest,
            "recovered_run": self.recovered_run,
            "holder": self.holder,
            "cursor": dict(self.cursor),
        }


def sync_to_s3(
    client: ExactOnlineClient,
    *,
    cursors: DynamoDbCursorStore,
    sink: S3Sink,
    division: int,
    endpoint: str,
    select: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    include_deletions: bool = True,
    initial_timestamp: int = 0,
) -> UnitResult:
    """Sync one unit into S3 (see the module docs). Raises what the sync raises (the cursor stays at the last
    landed batch, the lease is given back); a unit another worker holds returns ``status="busy"``."""
    connection, endpoint = cursors.connection, endpoint.strip("/")
    try:
        lease = cursors.lease(division, endpoint)
    except CursorLeaseHeld as held:
        log.info("%s/%s/%s is being synced by %s: skipped", connection, division, endpoint, held.holder)
        return UnitResult(connection, division, endpoint, "busy", holder=held.holder)
    with lease:
        recovered = lease.open_run
        if recovered is not None:
            manifest = sink.recover(connection, division, endpoint, recovered)
            log.warning(
                "%s/%s/%s: run %s stopped before its end; %s",
                connection,
                division,
                endpoint,
                recovered,
                "its manifest is written (status recovered)" if manifest else "it had its manifest already",
            )
            lease.end_run(recovered)
        start = {"changes": lease.load(division, endpoint), "deletions": lease.load(division, DELETED_STREAM)}
        run = sink.begin(connection, division, endpoint, cursor_from=start)
        lease.begin_run(run.run_id)
        Sync(
            client,
            [endpoint],
            cursor_store=lease,
            division=division,
            select=select,
            include_deletions=include_deletions,
            initial_timestamp=initial_timestamp,
        ).run(run.write)
        end = {"changes": lease.load(division, endpoint), "deletions": lease.load(division, DELETED_STREAM)}
        run.complete(cursor_to=end)
        lease.end_run(run.run_id)
    landed = run.rows
    return UnitResult(
        connection,
        division,
        endpoint,
        "synced",
        run_id=run.run_id,
        rows=landed["changes"],
        deletions=landed["deletions"],
        parts=len(run.parts),
        manifest=f"s3://{sink.bucket}/{run.prefix}/_manifest.json",
        recovered_run=recovered,
        cursor=end,
    )
