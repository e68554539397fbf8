"""``demo``: the whole system on the emulator, offline, in about a minute (what ``make demo`` runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import handle_errors


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""
    app.command("demo")(demo)


@handle_errors
def demo(
    rounds: Annotated[int, typer.Option(min=2, help="Sync rounds")] = 8,
    scale: Annotated[float, typer.Option(min=1.0, help="Scaled seconds per real second")] = 60.0,
) -> None:
    """Emulator + moto + bootstrap + the real refresher Lambda + a syncing worker; prints a summary."""
    from ..demo import DemoOptions, print_summary, run_demo, stdout_printer

    say = stdout_printer()
    summary = run_demo(DemoOptions(rounds=rounds, scale=scale), say=say)
    print_summary(summary, say)
    if not summary.ok:
        raise typer.Exit(1)
