"""Settings for the token chain's modules: every ``EXACT_*`` variable is read through :class:`Settings`.

Functions that used to take an ``environ`` mapping (Lambda handlers, tests) still do: the mapping's ``EXACT_*``
entries become :class:`Settings` fields by name, so validation and defaults live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["settings_from"]

_PREFIX = "EXACT_"


def settings_from(source: Settings | Mapping[str, str] | None = None) -> Settings:
    """``source`` when it already is Settings; the environment when None; else Settings from the mapping."""
    from ..config import Settings

    if isinstance(source, Settings):
        return source
    if source is None:
        return Settings()
    fields = Settings.model_fields
    values = {
        key[len(_PREFIX) :].lower(): value
        for key, value in source.items()
        if key.upper().startswith(_PREFIX) and key[len(_PREFIX) :].lower() in fields
    }
    # Explicit values win over the process environment (pydantic-settings' init-kwargs source).
    return Settings(**values)
