"""What every ``exact-online`` command shares: settings, building a client, output, and turning errors into one line.

Exit codes: 0 success; 1 Exact refused the request (4xx); 2 bad usage or configuration; 3 authentication (log in
again); 4 rate limit; 5 Exact or the network failed (5xx, timeout); 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

from ..exceptions import (
    APIError,
    AuthenticationError,
    ConfigError,
    ExactOnlineError,
    RateLimitError,
    ServerError,
    TokenError,
    TransportError,
)

if TYPE_CHECKING:
    from ..client import ExactOnlineClient
    from ..config import Settings

P = ParamSpec("P")
R = TypeVar("R")

EXIT_API, EXIT_USAGE, EXIT_AUTH, EXIT_RATE, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5


@dataclass(slots=True)
class State:
    """Options of the top-level command, set by its callback before any sub-command runs."""

    verbose: bool = False
    env_file: Path | None = None
    """The dotenv file named with ``--env-file``; none is read otherwise (a ``.env`` could redirect the token)."""


STATE = State()


def fail(message: str, *, hint: str | None = None, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one readable error line (and the next step) to stderr; return the Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    if hint:
        typer.echo(f"  next: {hint}", err=True)
    return typer.Exit(code)


def _classify(exc: BaseException) -> tuple[int, str | None]:
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, "check the EXACT_* variables (`exact-online --help`)"
    if isinstance(exc, AuthenticationError | TokenError):
        return EXIT_AUTH, "run `exact-online auth login`, then try again"
    if isinstance(exc, RateLimitError):
        return EXIT_RATE, "wait for the limit to reset (see the time above) or use another division"
    if isinstance(exc, ServerError | TransportError):
        return EXIT_UNAVAILABLE, "Exact or the network failed; try again later"
    if isinstance(exc, APIError):
        return EXIT_API, None
    return EXIT_API, None


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Expected failures become one line and a meaningful exit code; ``--verbose`` re-raises with the traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        verbose = STATE.verbose
        try:
            return func(*args, **kwargs)
        except (ExactOnlineError, ValueError, OSError) as exc:
            if verbose:
                raise
            code, hint = _classify(exc) if isinstance(exc, ExactOnlineError) else (EXIT_USAGE, None)
            raise fail(str(exc) or type(exc).__name__, hint=hint, code=code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def load_settings() -> Settings:
    """Settings from the environment, plus the dotenv file named with ``--env-file`` (no other file is read)."""
    from ..config import Settings

    return Settings.from_env(env_file=STATE.env_file)


def open_client(division: int | None = None) -> ExactOnlineClient:
    """The client the ``EXACT_*`` variables (and ``--env-file``) describe. Its token is ``EXACT_ACCESS_TOKEN`` (a fixed
    token, e.g. for the emulator) or the encrypted token file (``EXACT_TOKEN_PATH``, written by
    ``exact-online auth login``): the token source of ``ExactOnlineClient(settings=...)``."""
    from ..client import ExactOnlineClient

    settings = load_settings()
    if settings.access_token is None and settings.token_path is None:
        raise ConfigError(
            "no token: set EXACT_TOKEN_PATH (and EXACT_ENCRYPTION_KEY) after `exact-online auth login`, "
            "or EXACT_ACCESS_TOKEN",
            variable="EXACT_TOKEN_PATH",
        )
    return ExactOnlineClient(settings=settings, division=division)


def current_division(client: ExactOnlineClient) -> int:
    """The client's division, or the user's current division from ``current/Me``."""
    if client.division is not None:
        return int(client.division)
    rows = client.get("current/Me", {"$select": "CurrentDivision"})
    me = rows[0] if isinstance(rows, list) and rows else rows
    if not isinstance(me, Mapping) or me.get("CurrentDivision") is None:
        raise ConfigError("could not find the current division; pass --division", variable="EXACT_DIVISION")
    return int(me["CurrentDivision"])


# --- output -------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        if "__deferred" in value:
            return None
        return {k: _plain(v) for k, v in value.items() if k != "__metadata"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def json_line(row: Mapping[str, Any]) -> str:
    """One row as a JSON line (Decimal money as exact digits in a string)."""
    return json.dumps(_plain(row), ensure_ascii=False, default=str)


def want_json(flag: bool) -> bool:
    """JSON lines when asked, or when stdout is not a terminal (a pipe or a file)."""
    return flag or not sys.stdout.isatty()


def print_rows(rows: Iterable[Mapping[str, Any]], *, as_json: bool, columns: Sequence[str] | None = None) -> int:
    """Rows as JSON lines, or as a table for people; returns how many were printed."""
    if as_json:
        count = 0
        for row in rows:
            sys.stdout.write(json_line(row) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    from rich.console import Console
    from rich.table import Table

    materialised = [_plain(r) for r in rows]
    names = list(columns or dict.fromkeys(k for r in materialised for k in r))
    table = Table(show_lines=False)
    for name in names:
        table.add_column(name, overflow="fold")
    for row in materialised:
        table.add_row(*("" if row.get(n) is None else str(row.get(n)) for n in names))
    Console().print(table)
    return len(materialised)
