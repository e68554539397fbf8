"""What a demo run did, whether every invariant held, and the closing table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DemoSummary", "judge", "peak_calls_per_minute", "print_summary", "stdout_printer"]


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
    """The generation the bootstrap stored, and the one the last round saw (the run ends with that round)."""
    refreshes_at_exact: int = 0
    rejected_refreshes: int = 0
    too_early_refreshes: int = 0
    throttled_429: int = 0
    worker_unauthorized: int = 0
    handler_failures: int = 0
    simulated_minutes: float = 0.0
    real_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no invariant broke."""
        return not self.problems


def peak_calls_per_minute(requests: Iterable[Mapping[str, Any]]) -> int:
    """The most REST calls the emulator received within one clock minute."""
    per_minute: dict[int, int] = {}
    for entry in requests:
        when = entry.get("time")
        if when is None or not str(entry.get("path", "")).startswith("/api/v1/"):
            continue
        minute = int(float(when) // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    return max(per_minute.values(), default=0)


def judge(summary: DemoSummary, failures: list[str]) -> None:
    """Record every broken invariant in ``summary.problems``."""
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


def stdout_printer() -> Callable[[str], None]:
    """A ``say`` that writes lines to the current stdout at once (the handler's own output is kept out of it)."""
    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return say


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
    say(f"  simulated time     {summary.simulated_minutes:.0f} minutes in {summary.real_seconds:.0f} s real time")
    say("  verdict            " + ("OK" if summary.ok else "FAILED: " + "; ".join(summary.problems)))
