"""``demo``: says where the demo lives. The demo is not part of the installed package (it needs moto, boto3 and the
refresher Lambda's source), so it runs from a checkout of the repository: ``make demo``."""

from __future__ import annotations

import typer

from ._common import EXIT_USAGE, fail
from ._help import Command


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""
    app.command("demo", cls=Command)(demo)


def demo() -> None:
    """The whole system offline: emulator, Secrets Manager, refresher Lambda, a syncing worker (`make demo`).

    The demo runs from a checkout of the exact-online-toolkit repository, not from the installed package.
    """
    raise fail(
        "the demo is not part of the installed package: it runs from a checkout of the repository",
        hint="git clone the exact-online-toolkit repository, then run `make demo` in it (or `python -m demo`)",
        code=EXIT_USAGE,
    )
