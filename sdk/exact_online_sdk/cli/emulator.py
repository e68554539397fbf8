"""``exact-online emulator ...``: run the local Exact Online emulator (same options as
``python -m exact_online_sdk.emulator``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the emulator command to ``app`` (its options are parsed by the emulator's own argument parser)."""
    app.command(
        "emulator",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )(emulator)


def emulator(ctx: typer.Context) -> None:
    """Run the Exact Online emulator (--host, --port 0, --client-id, --divisions 1001,1002, ...; --help)."""
    from ..emulator.cli_args import main

    main(list(ctx.args), prog="exact-online emulator")
