"""``sync ENDPOINT``: incremental sync to a JSON-lines file, with a live progress line that says what it waits for."""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, TextIO

import typer

from ..registry import registry
from ..sync import DELETED_STREAM, FileCursorStore, Sync, SyncBatch, SyncProgress
from ._common import WaitLine, current_division, fail, handle_errors, json_line, open_client
from ._help import Command

DEFAULT_CURSORS = Path(".exact") / "cursors.json"


def sync_endpoints() -> list[str]:
    """Every endpoint ``sync`` reads (``sync/Deleted`` comes with them: --deletions)."""
    return [e.path for e in registry() if e.kind == "sync" and e.path != DELETED_STREAM]


class SyncCommand(Command):
    """``sync``, whose help ends with the sync endpoints (read from the registry only when help is shown)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.epilog = "Sync endpoints: " + ", ".join(sync_endpoints()) + "."
        super().format_help(ctx, formatter)


def register(app: typer.Typer) -> None:
    """Add the sync command to ``app``."""
    app.command("sync", cls=SyncCommand)(sync)


# --- what the line says -----------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``7 s``, ``2 min 05 s``, ``1 h 02 min``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def calls(limits: Any) -> str:
    """The API calls spent of the limits Exact reported: ``API calls 20 of 60 this minute, 312 of 5,000 today``."""
    parts = []
    for limit, remaining, period in (
        (getattr(limits, "minutely_limit", None), getattr(limits, "minutely_remaining", None), "this minute"),
        (getattr(limits, "daily_limit", None), getattr(limits, "daily_remaining", None), "today"),
    ):
        if limit is not None and remaining is not None:
            parts.append(f"{limit - remaining:,} of {limit:,} {period}")
    return "API calls " + ", ".join(parts) if parts else ""


def totals(progress: SyncProgress) -> str:
    """``1,200/5,000 rows, 3 deletions, 2 pages``."""
    rows = f"{progress.rows:,}" + (f"/{progress.expected_rows:,}" if progress.expected_rows else "")
    pages = "page" if progress.pages == 1 else "pages"
    return f"{rows} rows, {progress.deletions:,} deletions, {progress.pages} {pages}"


class SyncView:
    """The progress of one sync on stderr.

    Live (on a terminal): one line, redrawn, with totals, speed, API calls and labelled times ("elapsed 34 s,
    about 6 s left"), or the wait in progress ("waiting 25 s for the next minute (limit 60/min)"); it is cleared
    when the sync ends, so the summary stands alone. Not live (a file, a pipe, a CI log): a line per wait only.
    The summary is printed by the caller from :meth:`summary`."""

    def __init__(
        self, title: str, console: Any, *, live: bool, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.title = title
        self.live = live
        self._monotonic = monotonic
        self._started = monotonic()
        self._progress = SyncProgress(division=0)
        self._wait: str | None = None
        self._said_wait = False
        self._bar = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True, disable=not live
        )
        self._task = self._bar.add_task(title, total=None)

    def __enter__(self) -> SyncView:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.stop()  # transient: the live line is erased

    def progress(self, progress: SyncProgress) -> None:
        """A page was accepted."""
        self._progress = progress
        self._redraw()

    def waiting(self, text: str | None) -> None:
        """The client waits (``text``) or stopped waiting (None)."""
        self._wait = text
        if text is None:
            self._said_wait = False
        elif not self.live and not self._said_wait:
            self._said_wait = True
            self._bar.console.print(f"{self.title}: {text}", markup=False, highlight=False, soft_wrap=True)
        self._redraw()

    def line(self) -> str:
        """What the live line shows now."""
        p = self._progress
        if self._wait is not None:
            return f"{self.title}: {p.rows:,} rows so far, {self._wait}"
        elapsed = max(self._monotonic() - self._started, 1e-6)
        speed = p.rows / elapsed
        parts = [totals(p), f"{speed:,.0f} rows/s"]
        spent = calls(p.rate_limits)
        if spent:
            parts.append(spent)
        timing = f"elapsed {duration(elapsed)}"
        if p.expected_rows and speed > 0:
            timing += f", about {duration(max(p.expected_rows - p.rows, 0) / speed)} left"
        parts.append(timing)
        return f"{self.title}: " + "; ".join(parts)

    def summary(self) -> str:
        """The closing line: ``done: ... in 2 s (65 rows/s); API calls ...``."""
        p = self._progress
        elapsed = max(self._monotonic() - self._started, 1e-6)
        text = f"done: {self.title}: {totals(p)} in {duration(elapsed)} ({p.rows / elapsed:,.0f} rows/s)"
        spent = calls(p.rate_limits)
        return text + (f"; {spent}" if spent else "")

    def _redraw(self) -> None:
        if self.live:
            self._bar.update(self._task, description=self.line())


# --- the command ------------------------------------------------------------------------------------------------


def _sync_endpoint(endpoint: str) -> str:
    """``endpoint`` when it is a sync endpoint; else a usage error naming the closest one, before any call."""
    path = endpoint.strip().strip("/")
    known = sync_endpoints()
    if path in known:
        return path
    by_name = {p.rsplit("/", 1)[-1].lower(): p for p in known}
    near = by_name.get(path.split("(", 1)[0].rsplit("/", 1)[-1].lower())
    if near is None:
        close = difflib.get_close_matches(path.lower(), [p.lower() for p in known], n=1, cutoff=0.6)
        near = next((p for p in known if close and p.lower() == close[0]), None)
    suggestion = f"did you mean {near}? " if near else ""
    raise fail(
        f"{endpoint!r} is not a sync endpoint",
        hint=f"{suggestion}`exact-online sync --help` lists the {len(known)} sync endpoints",
    )


@handle_errors
def sync(
    endpoint: Annotated[str, typer.Argument(metavar="ENDPOINT", help="A sync endpoint, e.g. sync/CRM/Accounts")],
    division: Annotated[
        int | None,
        typer.Option("--division", "-d", metavar="CODE", help="Division (default: EXACT_DIVISION, else yours)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Append JSON lines here (default: stdout)")
    ] = None,
    cursors: Annotated[Path, typer.Option("--cursors", metavar="FILE", help="Cursor file")] = DEFAULT_CURSORS,
    select: Annotated[
        str | None, typer.Option("--select", metavar="FIELDS", help="Comma-separated fields (Timestamp is added)")
    ] = None,
    deletions: Annotated[bool, typer.Option("--deletions/--no-deletions", help="Also read sync/Deleted")] = True,
    count: Annotated[
        bool,
        typer.Option("--count", help="Ask Exact for the total ($inlinecount) to show the time left, where supported"),
    ] = False,
) -> None:
    """Read what changed since the last run (everything on the first run) and append it as JSON lines.

    Each line is {"kind": "changes"|"deletions", "endpoint": ..., "division": ..., "row": {...}}.
    The cursor is saved after each page is written and flushed: an interrupted run resumes without losing a row.
    """
    from rich.console import Console

    path = _sync_endpoint(endpoint)
    store = FileCursorStore(cursors)
    store.load(0, path)  # a corrupt cursor file fails now, not after the first call
    console = Console(stderr=True)
    # With rows on a terminal's stdout, the terminal is theirs: no live line then.
    live = console.is_terminal and (out is not None or not sys.stdout.isatty())
    view: SyncView | None = None
    before_view = WaitLine()

    def on_wait(text: str | None) -> None:
        if view is not None:
            view.waiting(text)
        else:
            before_view(text)

    with open_client(division, on_wait=on_wait) as client:
        chosen = current_division(client)
        handle: TextIO = open(out, "a", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
        try:
            with SyncView(f"{path} (division {chosen})", console, live=live) as view:

                def write(batch: SyncBatch) -> None:
                    for row in batch.rows:
                        line = {"kind": batch.kind, "endpoint": batch.endpoint, "division": batch.division, "row": row}
                        handle.write(json_line(line) + "\n")
                    handle.flush()

                Sync(
                    client,
                    [path],
                    cursor_store=store,
                    division=chosen,
                    select=select.split(",") if select else None,
                    include_deletions=deletions,
                    on_progress=view.progress,
                    count_total=count,
                ).run(write)
        finally:
            if out:
                handle.close()
    typer.echo(view.summary(), err=True)
