"""exact_online_sdk: a typed, polite Python client for the Exact Online REST API.

Importing this package is cheap: names are loaded on first use (see ``__getattr__``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from ._core.credentials import StaticToken
    from ._core.retry import RetryPolicy
    from .client import AsyncExactOnlineClient, ExactOnlineClient
    from .config import Settings
    from .exceptions import (
        APIError,
        AuthenticationError,
        DailyRateLimitExceeded,
        ExactOnlineError,
        RateLimitError,
        TokenError,
    )
    from .log import configure_logging

_LAZY = {
    "ExactOnlineClient": ".client",
    "AsyncExactOnlineClient": ".client",
    "Settings": ".config",
    "RetryPolicy": "._core.retry",
    "StaticToken": "._core.credentials",
    "configure_logging": ".log",
    "ExactOnlineError": ".exceptions",
    "APIError": ".exceptions",
    "AuthenticationError": ".exceptions",
    "RateLimitError": ".exceptions",
    "DailyRateLimitExceeded": ".exceptions",
    "TokenError": ".exceptions",
}

__all__ = [
    "APIError",
    "AsyncExactOnlineClient",
    "AuthenticationError",
    "DailyRateLimitExceeded",
    "ExactOnlineClient",
    "ExactOnlineError",
    "RateLimitError",
    "RetryPolicy",
    "Settings",
    "StaticToken",
    "TokenError",
    "__version__",
    "configure_logging",
]


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
