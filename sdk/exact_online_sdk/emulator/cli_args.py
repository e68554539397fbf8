"""Command-line options shared by ``python -m exact_online_sdk.emulator`` and ``exact-online emulator``.

Parsed with argparse (no extra dependency for the module entry point); ``--help`` is drawn like the other
``exact-online`` commands when rich is installed (the ``[cli]`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_WEBHOOK_SECRET, EmulatorConfig

__all__ = ["build_parser", "config_from_args", "main"]


def _divisions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--divisions expects comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--divisions needs at least one division")
    return values


def _limit(text: str) -> int | None:
    """A count, or ``none`` for no limit."""
    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    """argparse with a help screen in the style of the typer commands (when rich is importable)."""

    def print_help(self, file: Any = None) -> None:
        try:
            from rich.console import Console
            from rich.markup import escape
            from rich.panel import Panel
            from rich.table import Table
        except ImportError:  # the emulator extra alone: plain argparse help
            super().print_help(file)
            return
        console = Console(file=file or sys.stdout)
        console.print(f"\n [bold]Usage:[/bold] {self.prog} [OPTIONS]\n")
        console.print(f" {self.description}\n")
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(style="yellow", max_width=16, overflow="fold")
        table.add_column(ratio=1)
        helps = [a for a in self._actions if isinstance(a, argparse._HelpAction)]
        for action in [a for a in self._actions if a not in helps] + helps:
            table.add_row("\n".join(action.option_strings), escape(_metavar(action)), _help_text(action))
        console.print(Panel(table, title="Options", title_align="left", border_style="dim"))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.choices and not action.metavar:
        return "[" + "|".join(map(str, action.choices)) + "]"
    name = action.metavar or ("number" if action.type in (int, float) else "text")
    return f"<{str(name).lower()}>"


def _help_text(action: argparse.Action) -> str:
    from rich.markup import escape

    text = escape(action.help or "")
    default = action.default
    if default not in (None, argparse.SUPPRESS, [], False) and action.nargs != 0:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
        text += f" [dim]\\[default: {escape(shown)}][/dim]"
    return text


def build_parser(prog: str = "python -m exact_online_sdk.emulator") -> argparse.ArgumentParser:
    """Every emulator option, each with its help text (see ``docs/emulator.md`` for the choices behind them)."""
    p = _Parser(
        prog=prog,
        description="Run the local Exact Online emulator (prints EMULATOR_BASE_URL=... first).",
        add_help=False,
    )
    p.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on; keep loopback unless you must.")
    p.add_argument("--port", type=int, default=8901, help="Port to listen on; 0 picks a free one.")
    p.add_argument(
        "--client-id",
        action="append",
        dest="client_ids",
        metavar="ID",
        help=f"An accepted OAuth client id (repeatable; default {DEFAULT_CLIENT_ID}).",
    )
    p.add_argument(
        "--client-secret",
        action="append",
        dest="client_secrets",
        metavar="SECRET",
        help=f"The secret of each --client-id, in the same order (default {DEFAULT_CLIENT_SECRET}).",
    )
    p.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        default=[],
        metavar="URI",
        help="A registered redirect URI (repeatable). Without one: loopback and *.example callbacks only.",
    )
    p.add_argument(
        "--webhook-secret", default=DEFAULT_WEBHOOK_SECRET, metavar="SECRET", help="Key of the webhook HashCode."
    )
    p.add_argument(
        "--webhook-host",
        action="append",
        dest="webhook_hosts",
        default=[],
        metavar="HOST",
        help="A host webhook callbacks may target besides loopback and the redirect URIs' hosts (repeatable).",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        default=[],
        metavar="HOST",
        help="A Host header name to accept besides loopback and --host ('*' for any; repeatable).",
    )
    p.add_argument(
        "--divisions",
        type=_divisions,
        default=(1001, 1002),
        metavar="N,N",
        help="The user's divisions; the first is current/Me's CurrentDivision.",
    )
    p.add_argument(
        "--auto-consent",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Consent without showing the consent page (--no-auto-consent shows it).",
    )
    p.add_argument("--seed", type=int, default=1, help="Seed of the generated data.")
    p.add_argument("--rows", type=int, default=100, help="Seed rows per entity and division (lines: three per header).")
    p.add_argument("--minutely-limit", type=int, default=60, help="API calls per client and division per minute.")
    p.add_argument("--daily-limit", type=int, default=5000, help="API calls per client and division per UTC day.")
    p.add_argument(
        "--token-daily-limit",
        type=_limit,
        default=200,
        metavar="N|none",
        help="Token-endpoint calls per client per UTC day.",
    )
    p.add_argument("--token-lifetime", type=float, default=600.0, metavar="SECONDS", help="Access token lifetime.")
    p.add_argument(
        "--clock-scale", type=float, default=None, metavar="X", help="Run the emulator's clock X times real time."
    )
    p.add_argument(
        "--mandatory-filtering",
        action="store_true",
        help="Require a $filter on standard/bulk endpoints that have a sync twin, as Exact does.",
    )
    p.add_argument(
        "--error-quota",
        type=_limit,
        default=None,
        metavar="N|none",
        help="Errors per client, division and endpoint per hour before a one-hour block (Exact: 10); also "
        "applies to the token endpoint.",
    )
    p.add_argument(
        "--readonly-fields",
        choices=("ignore", "reject"),
        default="ignore",
        help="Read-only properties in a write body: ignored as Exact does, or refused with 400.",
    )
    p.add_argument(
        "--mandatory-fields",
        choices=("all", "documented", "off"),
        default="all",
        help="Which POST-mandatory fields are enforced (documented: without the emulator's guesses).",
    )
    p.add_argument(
        "--top-envelope",
        choices=("bare", "bare_except_top1", "results"),
        default="bare",
        help='Shape of a page when $top is given: {"d": [...]} (bare) or {"d": {"results": [...]}}.',
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        metavar="LEVEL",
        help="uvicorn's log level: critical, error, warning, info, debug or trace.",
    )
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the parsed options describe."""
    ids = args.client_ids or [DEFAULT_CLIENT_ID]
    secrets = args.client_secrets or [DEFAULT_CLIENT_SECRET]
    if len(secrets) != len(ids):
        raise SystemExit("give one --client-secret per --client-id")
    return EmulatorConfig(
        clients=dict(zip(ids, secrets, strict=True)),
        redirect_uris=tuple(args.redirect_uris),
        webhook_secret=args.webhook_secret,
        webhook_hosts=tuple(args.webhook_hosts),
        allowed_hosts=tuple(args.allowed_hosts),
        divisions=args.divisions,
        auto_consent=args.auto_consent,
        seed=args.seed,
        rows=args.rows,
        minutely_limit=args.minutely_limit,
        daily_limit=args.daily_limit,
        token_daily_limit=args.token_daily_limit,
        token_lifetime=args.token_lifetime,
        clock_scale=args.clock_scale,
        mandatory_filtering=args.mandatory_filtering,
        error_quota=args.error_quota,
        readonly_fields=args.readonly_fields,
        mandatory_fields=args.mandatory_fields,
        top_envelope=args.top_envelope,
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m exact_online_sdk.emulator") -> None:
    """Parse options and serve until interrupted."""
    from .server import serve

    args = build_parser(prog).parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    with contextlib.suppress(KeyboardInterrupt):
        serve(config, host=args.host, port=args.port, log_level=args.log_level)
