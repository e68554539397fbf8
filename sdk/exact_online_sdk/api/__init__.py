"""Endpoint classes for every Exact endpoint, and the ``Services`` namespace.

``Services(client).crm.accounts.list(...)`` (``AsyncServices`` for the async client), or the classes themselves:
``from exact_online_sdk.api.endpoints import ContactsAPI``. Nothing is imported until first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._generated._services import AsyncServices, Services
    from ._plan import Call, Key

__all__ = ["AsyncServices", "Call", "Key", "Services"]

_LAZY = {
    "Services": "._generated._services",
    "AsyncServices": "._generated._services",
    "Call": "._plan",
    "Key": "._plan",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)
