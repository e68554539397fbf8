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
    from .client import AsyncExactOnlineClient, ExactOnlineClient
    from .config import Settings

__all__ = ["AsyncExactOnlineClient", "ExactOnlineClient", "Settings", "__version__"]

_LAZY = {
    "ExactOnlineClient": ".client",
    "AsyncExactOnlineClient": ".client",
    "Settings": ".config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
