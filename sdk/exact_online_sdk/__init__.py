"""exact_online_sdk: a typed, polite Python client for the Exact Online REST API.

Importing this package is cheap: names are loaded on first use (see ``__getattr__``).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

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
    "__version__",
    "configure_logging",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
