"""The ``exact-online`` command (extra ``[cli]``): each sub-command group lives in its own module here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="exact-online",
    help="Exact Online from the command line: auth, API reads, sync, webhooks and a local emulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console entry point."""
    app()
