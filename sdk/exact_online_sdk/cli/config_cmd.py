"""``config``: every ``EXACT_*`` variable, its current value (secrets masked) and where that value comes from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..exceptions import ConfigError
from ._common import fail, handle_errors, print_rows, want_json
from ._errors import EXIT_USAGE
from ._help import Command

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["DESCRIPTIONS", "describe_settings", "register"]

ENV_FILE = Path(".env")

DESCRIPTIONS: dict[str, str] = {
    "client_id": "the app's client id (App Center)",
    "client_secret": "the app's client secret",
    "redirect_uri": "the app's redirect URI, exactly as registered",
    "base_url": "Exact's host (default: the Dutch one)",
    "region": "shortcut for the host: nl, be, de, uk, us, es, fr",
    "division": "default division (else current/Me's)",
    "timeout": "HTTP timeout in seconds",
    "user_agent": "User-Agent header",
    "language": "CustomDescriptionLanguage of descriptions",
    "log_level": "SDK log level",
    "log_json": "log lines as JSON",
    "log_file": "write the log to this file",
    "encryption_key": "key of the encrypted token file (`auth new-key`)",
    "token_path": "encrypted token file written by `auth login`",
    "webhook_secret": "key of the webhook HashCode",
    "token_secret_a": "AWS: token slot A (Secrets Manager)",
    "token_secret_b": "AWS: token slot B (Secrets Manager)",
    "token_secret": "AWS: name prefix of the two token slots",
    "rescue_secret": "AWS: the refresher's rescue secret",
    "client_secret_arn": "AWS: secret holding the client secret",
    "webhook_secret_arn": "AWS: secret holding the webhook secret",
    "coordination_table": "AWS: DynamoDB coordination table",
    "access_token": "use this access token as is (never refreshed)",
    "listener_cert_path": "TLS certificate of `auth login --mode listener`",
    "listener_key_path": "TLS key of `auth login --mode listener`",
}
"""What each variable is for, by ``Settings`` field (a test keeps it complete)."""


def register(app: typer.Typer) -> None:
    """Add the config command to ``app``."""
    app.command("config", cls=Command)(config)


def _is_secret(name: str) -> bool:
    from ..config import Settings

    return "SecretStr" in str(Settings.model_fields[name].annotation)


def _environment() -> dict[str, str]:
    # Settings reads variables case-insensitively; so does this listing.
    return {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("EXACT_")}


def _dotenv() -> dict[str, str]:
    if not ENV_FILE.is_file():
        return {}
    from dotenv import dotenv_values

    return {k.upper(): v for k, v in dotenv_values(ENV_FILE).items() if v is not None}


def _shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if _is_secret(name):
        return "(set, hidden)"
    if isinstance(value, Path) and name.endswith("_path"):
        return f"{value}" + ("" if value.exists() else " (no such file yet)")
    return str(value)


def describe_settings() -> tuple[list[dict[str, str]], ConfigError | None]:
    """One row per variable (variable, value, source, meaning) and the error when the settings do not load."""
    from ..config import Settings

    env, dotenv = _environment(), _dotenv()
    settings: Settings | None
    try:
        settings = Settings.from_env(ENV_FILE)
        problem = None
    except ConfigError as exc:
        settings, problem = None, exc
    rows = []
    for name in Settings.model_fields:
        variable = f"EXACT_{name.upper()}"
        raw = env.get(variable) if env.get(variable, "").strip() else None
        if raw is not None:
            source = "environment"
        elif dotenv.get(variable, "").strip():
            raw, source = dotenv[variable], f"{ENV_FILE} file"
        else:
            source = "default"
        value: Any = raw if settings is None else getattr(settings, name)
        if settings is not None and name == "base_url" and source == "default" and settings.region:
            source = "from EXACT_REGION"
        if source == "default" and (value is None or value == ""):
            source = "not set"
        rows.append(
            {
                "Variable": variable,
                "Value": _shown(name, value),
                "Source": source,
                "Meaning": DESCRIPTIONS.get(name, ""),
            }
        )
    return rows, problem


@handle_errors
def config(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines (the default when output is piped)")] = False,
) -> None:
    """Every EXACT_* variable: its value (secrets hidden) and where it comes from.

    Values come from the environment, else from a .env file in the current directory, else the default.
    Exit 2 when the settings do not load (the table still shows what is set).
    """
    rows, problem = describe_settings()
    print_rows(rows, as_json=want_json(as_json), columns=["Variable", "Value", "Source", "Meaning"])
    if problem is not None:
        variable = f"fix {problem.variable}" if problem.variable else "fix the variable named above"
        raise fail(str(problem), hint=f"{variable}; the table shows where each value comes from", code=EXIT_USAGE)
