"""Deprecated module: the REST rules moved to :mod:`.entities` (with :mod:`.reads`, :mod:`.writes`, :mod:`.query`),
the error shape to :mod:`.exceptions`, path parsing to :mod:`.urls`. The old names keep working with a warning."""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

_MOVED = {
    "ApiError": ".exceptions",
    "ApiResult": ".responses",
    "ApiPath": ".entities",
    "RestApi": ".entities",
    "parse_api_path": ".urls",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    target = _MOVED[name]
    warnings.warn(
        f"exact_online_sdk.emulator.rest.{name} moved to exact_online_sdk.emulator{target}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(import_module(target, __package__), name)
