"""The ``exact-online`` command (extra ``[cli]``): each sub-command group lives in its own module here."""

from __future__ import annotations

from typing import Annotated

import typer

from . import api, demo_cmd, sync_cmd, webhooks_cmd
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
) -> None:
    """Exact Online from the command line."""
    STATE.verbose = verbose
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


for _module in (api, sync_cmd, webhooks_cmd, demo_cmd):
    _module.register(app)


def main() -> None:
    """Console entry point."""
    app()


from . import auth as _auth  # noqa: E402, F401  (registers `exact-online auth`)
from . import emulator as _emulator  # noqa: E402, F401  (registers `exact-online emulator`)
