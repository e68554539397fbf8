"""``exact-online auth login|status|new-key``: the first authorization and a look at the stored token."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from ..auth.errors import TokenUnavailable
from ..auth.token import utc_day
from ._common import fail, handle_errors, load_settings
from ._help import Command, Group
from ._text import one_line

auth_app = typer.Typer(
    help="Authorize this app at Exact Online and inspect the stored token.", cls=Group, no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``auth`` group to ``app``."""
    app.add_typer(auth_app, name="auth")


class Mode(StrEnum):
    manual = "manual"
    listener = "listener"


@auth_app.command("login", cls=Command)
@handle_errors
def login(
    mode: Annotated[Mode, typer.Option("--mode", help="manual: paste the callback URL; listener: local HTTPS")] = (
        Mode.manual
    ),
    port: Annotated[
        int | None, typer.Option("--port", metavar="PORT", help="Listener port (default: the redirect URI's)")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Listener: seconds to wait for the callback")
    ] = 300.0,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Listener: open a browser")] = False,
    force_login: Annotated[bool, typer.Option("--force-login/--reuse-session", help="Ask Exact to log in")] = True,
) -> None:
    """Run the authorization-code flow once and store generation 1 of the token (file or Secrets Manager)."""
    from ..auth.bootstrap import listener_login, login_config_problems, manual_login, storage_from_env
    from ..auth.manager import ExactOnlineAuth

    settings = load_settings()
    missing = login_config_problems(settings, mode.value)
    if missing:
        raise fail(
            "missing configuration: " + ", ".join(missing),
            hint="set these variables (or put them in .env) and log in again; `exact-online config` shows what is set",
        )
    # The login is, besides the refresher, the one writer of the token store.
    auth = ExactOnlineAuth(settings, storage=storage_from_env(settings, writable=True))
    # An unreadable existing token file is never silently replaced by a login: its TokenStoreError is shown.
    if mode is Mode.manual:
        token = manual_login(auth, read=_prompt, show=typer.echo, force_login=force_login)
    else:
        token = listener_login(
            auth, port=port, timeout=timeout, show=typer.echo, open_browser=open_browser, force_login=force_login
        )
    typer.echo(
        f"Logged in: token generation {token.generation} stored in {auth.storage!r}; "
        f"expires in {token.expires_in(time.time()):.0f} s"
    )


@auth_app.command("status", cls=Command)
@handle_errors
def status() -> None:
    """The stored token's generation, age and expiry (never its value). Exit 3 when none or expired."""
    from ..auth.bootstrap import storage_from_env

    settings = load_settings()
    if not settings.token_path and not (settings.token_secret or settings.token_secret_a):
        raise fail(
            "no token store configured: set EXACT_TOKEN_PATH and EXACT_ENCRYPTION_KEY (or EXACT_TOKEN_SECRET_A/_B)",
            hint="on a laptop: set both, then `exact-online auth login`; `exact-online config` shows what is set",
        )
    store = storage_from_env(settings)
    token = store.load()
    if token is None:
        raise TokenUnavailable("no token is stored yet")
    now = time.time() + token.clock_offset  # on Exact's clock, as the writer measured it
    issued = datetime.fromtimestamp(token.issued_at, UTC)
    expires = datetime.fromtimestamp(token.expires_at, UTC)
    typer.echo(f"store:      {store!r}")
    typer.echo(f"generation: {token.generation}")
    typer.echo(f"issued:     {issued:%Y-%m-%d %H:%M:%S}Z ({token.age(now):.0f} s ago)")
    left = token.expires_in(now)
    state = f"in {left:.0f} s" if left > 0 else f"expired {-left:.0f} s ago"
    typer.echo(f"expires:    {expires:%Y-%m-%d %H:%M:%S}Z ({state})")
    if token.writer:
        typer.echo(f"writer:     {one_line(str(token.writer))}")
    day = utc_day(now)
    typer.echo(f"token calls: {token.calls_on(day)} of Exact's ~200 today ({day} UTC; the refresher stops at 190)")
    refresh_from = token.issued_at + 570
    typer.echo(f"refreshable from {datetime.fromtimestamp(refresh_from, UTC):%H:%M:%S}Z (Exact's 570 s rule)")
    if left <= 0 and now - token.issued_at > 30 * 86400:
        raise TokenUnavailable("the refresh token is older than 30 days")


def _prompt(text: str) -> str:
    # typer.prompt adds its own ": "; the SDK's prompt ends with one already
    return str(typer.prompt(text.rstrip().rstrip(":")))


@auth_app.command("new-key", cls=Command)
def new_key() -> None:
    """Print a new random EXACT_ENCRYPTION_KEY (Fernet) for the encrypted token file."""
    from ..auth.file import generate_key

    typer.echo(generate_key())
