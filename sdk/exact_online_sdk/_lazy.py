"""Lazy package exports: names load on first attribute access, so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(module_name: str, namespace: dict[str, Any], names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[attr]`` (a module path relative to the module's package) on
    first use and caches the value in the module's ``namespace`` (its ``globals()``)."""
    anchor = namespace.get("__package__") or module_name

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, anchor), name)
        namespace[name] = value
        return value

    return __getattr__
