"""Command-line options shared by ``python -m exact_online_sdk.emulator`` and ``exact-online emulator``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

from .config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_WEBHOOK_SECRET, EmulatorConfig

__all__ = ["build_parser", "config_from_args"]


def _divisions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--divisions expects comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--divisions needs at least one division")
    return values


def build_parser(prog: str = "python -m exact_online_sdk.emulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run the local Exact Online emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8901, help="0 picks a free port")
    p.add_argument("--client-id", action="append", dest="client_ids")
    p.add_argument("--client-secret", action="append", dest="client_secrets")
    p.add_argument("--redirect-uri", action="append", dest="redirect_uris", default=[])
    p.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    p.add_argument("--divisions", type=_divisions, default=(1001, 1002))
    p.add_argument("--auto-consent", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rows", type=int, default=100)
    p.add_argument("--minutely-limit", type=int, default=60)
    p.add_argument("--daily-limit", type=int, default=5000)
    p.add_argument("--token-lifetime", type=float, default=600.0)
    p.add_argument("--clock-scale", type=float, default=None)
    p.add_argument("--mandatory-filtering", action="store_true")
    p.add_argument("--error-quota", type=int, default=None)
    p.add_argument("--log-level", default="warning")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    ids = args.client_ids or [DEFAULT_CLIENT_ID]
    secrets = args.client_secrets or [DEFAULT_CLIENT_SECRET]
    if len(secrets) != len(ids):
        raise SystemExit("give one --client-secret per --client-id")
    return EmulatorConfig(
        clients=dict(zip(ids, secrets, strict=True)),
        redirect_uris=tuple(args.redirect_uris),
        webhook_secret=args.webhook_secret,
        divisions=args.divisions,
        auto_consent=args.auto_consent,
        seed=args.seed,
        rows=args.rows,
        minutely_limit=args.minutely_limit,
        daily_limit=args.daily_limit,
        token_lifetime=args.token_lifetime,
        clock_scale=args.clock_scale,
        mandatory_filtering=args.mandatory_filtering,
        error_quota=args.error_quota,
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
