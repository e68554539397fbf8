"""The ``exact-online`` command (extra ``[cli]``): each sub-command group lives in its own module here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import api, auth, demo_cmd, emulator, sync_cmd, webhooks_cmd
from ._common import STATE

app = typer.Typer(
    name="exact-online",
    help="Exact Online from the command line: auth, API reads, sync, webhooks and a local emulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs")] = False,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="Also read EXACT_* settings from this dotenv file (the environment wins); none is read unless named",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
) -> None:
    """Exact Online from the command line."""
    STATE.verbose = verbose
    STATE.env_file = env_file
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


for _module in (auth, api, sync_cmd, webhooks_cmd, emulator, demo_cmd):
    _module.register(app)


def main() -> None:
    """Console entry point."""
    app()
