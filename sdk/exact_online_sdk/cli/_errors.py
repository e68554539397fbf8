"""Every error of the SDK as the CLI shows it: one line saying what happened, one saying what to do next, and an
exit code.

Exit codes: 0 success; 1 Exact refused the request (4xx), or an internal error; 2 bad usage or configuration;
3 authentication (log in again, or the token state); 4 rate limit; 5 Exact or the network failed (5xx, timeout,
an unreadable answer); 130 interrupted. The next step itself is chosen in :mod:`._advice`.

The hint fits the situation it is printed in: which command runs (logging in is not "run `auth login`"), and where
the token comes from (a fixed ``EXACT_ACCESS_TOKEN``, the encrypted file of ``exact-online auth login`` on a laptop,
or the refresher's Secrets Manager slots on AWS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ..exceptions import ExactOnlineError
from ._text import one_line

__all__ = [
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_INTERRUPTED",
    "EXIT_RATE",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "Failure",
    "Situation",
    "explain",
]

EXIT_API, EXIT_USAGE, EXIT_AUTH, EXIT_RATE, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 1, 2, 3, 4, 5, 130

TokenSource = Literal["access-token", "file", "aws", "none"]

CONFIG = "`exact-online config` shows every EXACT_* variable and where its value comes from"
LOGIN = "run `exact-online auth login` to authorize again, then repeat the command"
RUNBOOK = "the runbook (docs/runbook.md)"


@dataclass(frozen=True, slots=True)
class Situation:
    """Where an error is shown: the command (``"auth login"``, ``"get"``...), the token source and the host."""

    command: str
    token_source: TokenSource
    base_url: str = ""

    @property
    def logging_in(self) -> bool:
        """True inside ``exact-online auth login``, where "log in again" is no advice."""
        return self.command == "auth login"

    @classmethod
    def of(cls, command: str) -> Situation:
        """The situation of ``command`` from the settings (the environment when they cannot be read)."""
        from ..config import Settings

        try:
            settings = Settings.from_env()
        except ExactOnlineError:
            env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith("EXACT_") and v.strip()}
            source: TokenSource = (
                "access-token"
                if "EXACT_ACCESS_TOKEN" in env
                else "file"
                if "EXACT_TOKEN_PATH" in env
                else "aws"
                if {"EXACT_TOKEN_SECRET", "EXACT_TOKEN_SECRET_A"} & env.keys()
                else "none"
            )
            return cls(command, source, env.get("EXACT_BASE_URL", ""))
        if settings.access_token is not None and command != "auth login":
            source = "access-token"
        elif settings.token_secret or settings.token_secret_a or settings.token_secret_b:
            source = "aws"
        elif settings.token_path is not None:
            source = "file"
        else:
            source = "none"
        return cls(command, source, settings.host)


@dataclass(frozen=True, slots=True)
class Failure:
    """What the CLI prints for an error: ``error: {message}`` and ``  next: {hint}``, then exits with ``code``."""

    code: int
    message: str
    hint: str


def explain(exc: BaseException, where: Situation) -> Failure:
    """The one-line message, the next step and the exit code for ``exc`` shown in ``where``."""
    from ._advice import advice  # the error classes pull in most of the SDK: loaded only when one is shown

    code, hint = advice(exc, where)
    return Failure(code, _message(exc), one_line(hint))


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", "")
    if hint:  # TokenError and OAuthError end their text with ". Next: {hint}"; the CLI prints its own next step
        text = text.removesuffix(f". Next: {hint}")
    if isinstance(exc, OSError) and not isinstance(exc, ExactOnlineError) and exc.filename is not None:
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return one_line(text)
