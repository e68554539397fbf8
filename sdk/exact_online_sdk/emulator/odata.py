"""Deprecated module: the ``$filter`` engine moved to :mod:`.filters`. The old names keep working with a warning."""

from __future__ import annotations

import warnings
from typing import Any

from . import filters


def __getattr__(name: str) -> Any:
    if name not in ("FilterError", "Predicate", "compile_filter"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"exact_online_sdk.emulator.odata.{name} moved to exact_online_sdk.emulator.filters",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(filters, name)
