"""The ``exact-online`` command (extra ``[cli]``): each sub-command group lives in its own module here."""

from __future__ import annotations

from typing import Annotated

import typer

from . import api, auth, config_cmd, demo_cmd, emulator, sync_cmd, webhooks_cmd
from ._common import STATE
from ._help import Group

EPILOG = (
    "Configuration: the EXACT_* environment variables (EXACT_BASE_URL or EXACT_REGION, EXACT_DIVISION, "
    "EXACT_TOKEN_PATH and EXACT_ENCRYPTION_KEY, or EXACT_ACCESS_TOKEN, ...), also read from a .env file in the "
    "current directory. `exact-online config` lists every one with its value (secrets hidden) and its source."
)

app = typer.Typer(
    name="exact-online",
    help="Exact Online from the command line: auth, API reads, sync, webhooks and a local emulator.",
    epilog=EPILOG,
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"exact-online {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Exact Online from the command line."""
    STATE.verbose = verbose
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


for _module in (auth, api, sync_cmd, webhooks_cmd, config_cmd, emulator, demo_cmd):
    _module.register(app)


def main() -> None:
    """Console entry point."""
    app()
