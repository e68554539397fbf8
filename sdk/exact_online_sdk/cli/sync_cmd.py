"""``sync ENDPOINT``: incremental sync to a JSON-lines file, with a progress bar."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TextIO

import typer

from ..sync import FileCursorStore, Sync, SyncBatch, SyncProgress
from ._common import current_division, handle_errors, json_line, open_client

DEFAULT_CURSORS = Path(".exact") / "cursors.json"


def register(app: typer.Typer) -> None:
    """Add the sync command to ``app``."""
    app.command("sync")(sync)


def _describe(progress: SyncProgress, started: float) -> str:
    limits = progress.rate_limits
    calls = "-"
    if limits is not None and limits.minutely_limit is not None and limits.minutely_remaining is not None:
        calls = f"{limits.minutely_limit - limits.minutely_remaining}/{limits.minutely_limit} a minute"
        if limits.daily_limit is not None and limits.daily_remaining is not None:
            calls += f", {limits.daily_limit - limits.daily_remaining}/{limits.daily_limit} today"
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = progress.rows / elapsed
    rows = f"{progress.rows:,}"
    eta = ""
    if progress.expected_rows:
        rows += f"/{progress.expected_rows:,}"
        left = max(progress.expected_rows - progress.rows, 0)
        eta = f", ETA {timedelta(seconds=round(left / rate)) if rate > 0 else '-'}"
    return (
        f"{rows} rows, {progress.deletions:,} deletions, {progress.pages} pages, {rate:,.0f} rows/s, calls {calls}{eta}"
    )


@handle_errors
def sync(
    endpoint: Annotated[str, typer.Argument(help="A sync endpoint, e.g. sync/CRM/Accounts")],
    division: Annotated[int | None, typer.Option("--division", "-d", help="Division (default: yours)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Append JSON lines here (default: stdout)")] = None,
    cursors: Annotated[Path, typer.Option("--cursors", help="Cursor file")] = DEFAULT_CURSORS,
    select: Annotated[str | None, typer.Option("--select", help="Comma-separated fields (Timestamp is added)")] = None,
    deletions: Annotated[bool, typer.Option("--deletions/--no-deletions", help="Also read sync/Deleted")] = True,
    count: Annotated[
        bool, typer.Option("--count", help="Ask Exact for the total ($inlinecount) to show an ETA, where supported")
    ] = False,
) -> None:
    """Read what changed since the last run (everything on the first run) and append it as JSON lines.

    Each line is {"kind": "changes"|"deletions", "endpoint": ..., "division": ..., "row": {...}}. The cursor is
    saved after each page is written and flushed, so an interrupted run resumes without losing a row.
    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    started = time.monotonic()
    with open_client(division) as client:
        chosen = current_division(client)
        handle: TextIO = open(out, "a", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                disable=out is None,  # with rows on stdout, keep the terminal for them
            ) as bar:
                task = bar.add_task(f"{endpoint} (division {chosen})", total=None)

                def on_progress(progress: SyncProgress) -> None:
                    bar.update(task, description=f"{endpoint}: {_describe(progress, started)}")

                def write(batch: SyncBatch) -> None:
                    for row in batch.rows:
                        line = {"kind": batch.kind, "endpoint": batch.endpoint, "division": batch.division, "row": row}
                        handle.write(json_line(line) + "\n")
                    handle.flush()

                engine = Sync(
                    client,
                    [endpoint],
                    cursor_store=FileCursorStore(cursors),
                    division=chosen,
                    select=select.split(",") if select else None,
                    include_deletions=deletions,
                    on_progress=on_progress,
                    count_total=count,
                )
                engine.run(write)
        finally:
            if out:
                handle.close()
    typer.echo(f"done: {_describe(engine.progress, started)}", err=True)
