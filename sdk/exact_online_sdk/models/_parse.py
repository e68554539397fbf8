"""Exact's response envelopes as pydantic models (for editing; to read many rows, :mod:`._row` is faster).

Decoded by :func:`edm.loads` first, so money is exact: pydantic-core's own JSON reader turns numbers into floats
before it makes Decimals.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Generic

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .. import edm
from ._row import ParsedPage
from ._types import M, mark_from_wire

__all__ = ["ParsedPage", "parse_entity", "parse_page"]


class _Results(BaseModel, Generic[M]):
    model_config = ConfigDict(extra="ignore")

    results: list[M]
    next: str | None = Field(default=None, alias="__next")
    count: int | None = Field(default=None, alias="__count")


class _Envelope(BaseModel, Generic[M]):
    # left_to_right: a smart union would validate each row twice (strict, then lax) on Int64-as-string.
    d: _Results[M] | list[M] = Field(union_mode="left_to_right")


@cache
def _page_adapter(model: type[M]) -> TypeAdapter[_Envelope[M]]:
    return TypeAdapter(_Envelope[model])  # type: ignore[valid-type]


def parse_page(model: type[M], content: bytes | str) -> ParsedPage[M]:
    """A collection response (``{"d":{"results":[...],"__next":...}}`` or ``{"d":[...]}``) as models."""
    envelope = _page_adapter(model).validate_python(edm.loads(content))
    data = envelope.d
    if isinstance(data, list):
        return ParsedPage(mark_from_wire(data), None, None)
    return ParsedPage(mark_from_wire(data.results), data.next, data.count)


def parse_entity(model: type[M], data: Any) -> M:
    """One entity (the unwrapped ``d`` dict, or raw JSON bytes of ``{"d": {...}}``) as a model."""
    if isinstance(data, bytes | str):
        data = edm.loads(data)
        if isinstance(data, dict) and isinstance(data.get("d"), dict):
            data = data["d"]
    if isinstance(data, dict) and isinstance(data.get("results"), list) and len(data["results"]) == 1:
        data = data["results"][0]
    row = model.model_validate(data)
    mark_from_wire([row])
    return row
