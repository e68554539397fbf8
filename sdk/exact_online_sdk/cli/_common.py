"""What every ``exact-online`` command shares: settings, building a client, output, and turning errors into one line.

Exit codes (see :mod:`._errors`): 0 success; 1 Exact refused the request (4xx) or an unexpected internal error; 2 bad
usage or configuration; 3 authentication (log in again, or the token state); 4 rate limit; 5 Exact or the network
failed (5xx, timeout, an unreadable answer); 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

from ..clock import Clock, SystemClock
from ..exceptions import ConfigError, ExactOnlineError
from ._errors import (
    EXIT_API,
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_RATE,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Situation,
    explain,
)
from ._pacing import AnnouncingClock, WaitNotices
from ._text import clean, one_line

if TYPE_CHECKING:
    from ..client import ExactOnlineClient
    from ..config import Settings

__all__ = [
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_RATE",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "STATE",
    "WaitLine",
    "current_division",
    "fail",
    "handle_errors",
    "json_line",
    "load_settings",
    "open_client",
    "print_rows",
    "want_json",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True)
class State:
    """Options of the top-level command, set by its callback before any sub-command runs; ``clock`` is the time
    the commands' clients pace and wait on (tests put a manual clock here)."""

    verbose: bool = False
    clock: Clock = field(default_factory=SystemClock)
    command: str = ""
    """The running sub-command as typed after ``exact-online`` (``"auth login"``), for hints that fit it."""


STATE = State()


def fail(message: str, *, hint: str | None = None, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one readable error line (and the next step) to stderr; return the Exit to raise."""
    typer.secho(f"error: {one_line(message)}", err=True, fg=typer.colors.RED)
    if hint:
        typer.echo(f"  next: {one_line(hint)}", err=True)
    return typer.Exit(code)


# Typer's own exceptions (exit, abort, usage errors) go through untouched; typer may vendor click, so its
# ClickException is found from an exported subclass.
_TYPER_EXCEPTIONS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Every failure becomes one line, the next step and its exit code; ``--verbose`` re-raises with the traceback.

    Errors of the SDK (the whole tree under ``ExactOnlineError``), bad values and files are expected; anything else
    is a bug of this tool and says so."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _TYPER_EXCEPTIONS:
            raise
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if STATE.verbose:
                raise
            if not isinstance(exc, ExactOnlineError | ValueError | OSError):
                raise fail(
                    f"internal error: {type(exc).__name__}: {exc}",
                    hint="repeat with `exact-online --verbose ...` for the traceback, and report it",
                    code=EXIT_API,
                ) from None
            failure = explain(exc, Situation.of(STATE.command))
            raise fail(failure.message, hint=failure.hint, code=failure.code) from None

    return wrapper


def load_settings() -> Settings:
    """Settings from the environment and ``./.env``."""
    from ..config import Settings

    return Settings.from_env()


def open_client(
    division: int | None = None, *, on_wait: Callable[[str | None], None] | None = None
) -> ExactOnlineClient:
    """The client the ``EXACT_*`` variables (and ``./.env``) describe. Its token is ``EXACT_ACCESS_TOKEN`` (a fixed
    token, e.g. for the emulator), the encrypted token file (``EXACT_TOKEN_PATH``, written by
    ``exact-online auth login``) or, on AWS, the refresher's slots (``EXACT_TOKEN_SECRET_A``/``_B``): the token
    source of ``ExactOnlineClient(settings=...)``.

    Its waits (rate limit, retries) are said: ``on_wait`` gets the text while one lasts and None at its end; by
    default one line on stderr when a wait starts."""
    from ..client import ExactOnlineClient

    settings = load_settings()
    if not (
        settings.access_token
        or settings.token_path
        or settings.token_secret
        or (settings.token_secret_a and settings.token_secret_b)
    ):
        raise ConfigError(
            "no token is configured: set EXACT_TOKEN_PATH and EXACT_ENCRYPTION_KEY (then `exact-online auth login`), "
            "or EXACT_ACCESS_TOKEN",
            variable="EXACT_TOKEN_PATH",
        )
    notices = WaitNotices(on_wait or WaitLine())
    client = ExactOnlineClient(settings=settings, division=division, clock=AnnouncingClock(STATE.clock, notices))
    notices.limits = client.rate_limits
    return client


class WaitLine:
    """One stderr line when a wait starts (the countdown belongs to the live progress of ``sync``)."""

    def __init__(self) -> None:
        self._said = False

    def __call__(self, text: str | None) -> None:
        if text is None:
            self._said = False
        elif not self._said:
            self._said = True
            typer.echo(text, err=True)


def current_division(client: ExactOnlineClient) -> int:
    """The client's division, or the user's current division from ``current/Me``, which then becomes the client's
    (so its rate limits, shown while waiting, are that division's)."""
    if client.division is not None:
        return int(client.division)
    rows = client.get("current/Me", {"$select": "CurrentDivision"})
    me = rows[0] if isinstance(rows, list) and rows else rows
    if not isinstance(me, Mapping) or me.get("CurrentDivision") is None:
        raise ConfigError("could not find the current division; pass --division", variable="EXACT_DIVISION")
    client.division = int(me["CurrentDivision"])
    return client.division


# --- output -------------------------------------------------------------------------------------------------


def _plain(value: Any, *, where: str = "", strict: bool = False) -> Any:
    """``value`` with Decimal money as exact digits, deferred links and ``__metadata`` dropped. ``strict``: a number
    JSON cannot carry (NaN, Infinity) is an error naming its field, never written."""
    if isinstance(value, Decimal | float) and not math.isfinite(value):
        if strict:
            from ..edm import EdmValueError

            raise EdmValueError("Edm.Double", value, f"{where or 'a value'}: JSON has no NaN or Infinity")
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        if "__deferred" in value:
            return None
        return {
            k: _plain(v, where=f"{where}.{k}" if where else str(k), strict=strict)
            for k, v in value.items()
            if k != "__metadata"
        }
    if isinstance(value, list | tuple):
        return [_plain(v, where=f"{where}[{i}]", strict=strict) for i, v in enumerate(value)]
    return value


# What a terminal would obey besides the C0 controls JSON always escapes: DEL, the C1 controls (8-bit CSI, OSC),
# bidi overrides and the Unicode line separators. Written as JSON escapes, the data stays the same for a program.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")


def json_line(row: Mapping[str, Any]) -> str:
    """One row as a JSON line: Decimal money as exact digits in a string, never NaN or Infinity (an error instead),
    and no character that a terminal would act on."""
    text = json.dumps(_plain(row, strict=True), ensure_ascii=False, default=str, allow_nan=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def want_json(flag: bool) -> bool:
    """JSON lines when asked, or when stdout is not a terminal (a pipe or a file)."""
    return flag or not sys.stdout.isatty()


def print_rows(rows: Iterable[Mapping[str, Any]], *, as_json: bool, columns: Sequence[str] | None = None) -> int:
    """Rows as JSON lines, or as a table for people; returns how many were printed.

    Table cells are plain text: rich markup in the data (``[/bold]``, ``[link=...]``) is shown as written, and escape
    sequences and control characters are removed."""
    if as_json:
        count = 0
        for row in rows:
            sys.stdout.write(json_line(row) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    materialised = [_plain(r) for r in rows]
    names = list(columns or dict.fromkeys(k for r in materialised for k in r))
    table = Table(show_lines=False)
    for name in names:
        table.add_column(Text(clean(str(name))), overflow="fold")
    for row in materialised:
        table.add_row(*(Text("" if row.get(n) is None else clean(str(row.get(n)))) for n in names))
    Console().print(table)
    return len(materialised)
