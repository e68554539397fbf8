"""Strict writes: the request body for a POST or PUT of a model.

Only the fields the reference allows for that method, by Exact's name, only those set (or, for a row read
from Exact, only those assigned since). A field Exact would refuse is a :class:`FieldNotWritableError` before
any request is sent.
"""

from __future__ import annotations

from typing import Any, Literal

from ..exceptions import ExactOnlineError
from ..registry import Endpoint, registry
from ._types import ExactModel

__all__ = ["FieldNotWritableError", "changed_fields", "write_body"]

WriteMethod = Literal["POST", "PUT"]


class FieldNotWritableError(ExactOnlineError, ValueError):
    """A write names a field Exact does not accept for that method (read-only, POST-only or unknown)."""

    def __init__(self, path: str, method: str, fields: list[str]) -> None:
        names = ", ".join(fields)
        super().__init__(f"{method} {path}: not writable: {names}")
        self.path = path
        self.method = method
        self.fields = fields


def changed_fields(model: ExactModel) -> set[str]:
    """Attribute names a write would send: set at construction, or assigned since the row was read."""
    tracked: frozenset[str] | set[str] | None = getattr(model, "_eo_changed", None)
    names = set(model.model_fields_set) if tracked is None else set(tracked)
    names.discard("odata_metadata")
    return names


def _endpoint(model: ExactModel) -> Endpoint | None:
    path = type(model).__exact_path__
    return registry().get(path) if path else None


def write_body(model: ExactModel, method: WriteMethod, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON body (Exact names -> Python values for :func:`edm.dumps`) of ``method`` for ``model``."""
    endpoint = _endpoint(model)
    fields = type(model).model_fields
    body: dict[str, Any] = {}
    refused: list[str] = []
    for name in sorted(changed_fields(model)):
        info = fields.get(name)
        wire = (info.alias or name) if info is not None else name
        if wire in exclude:
            continue
        if endpoint is not None:
            spec = endpoint.field(wire)
            allowed = spec is not None and (spec.writable_on_post if method == "POST" else spec.writable_on_put)
            if not allowed:
                refused.append(wire)
                continue
        value = getattr(model, name) if info is not None else (model.model_extra or {}).get(name)
        body[wire] = _value(value, method)
    if refused:
        raise FieldNotWritableError(type(model).__exact_path__ or type(model).__name__, method, refused)
    return body


def _value(value: Any, method: WriteMethod) -> Any:
    if isinstance(value, ExactModel):
        return write_body(value, method)
    if isinstance(value, list):
        return [_value(item, method) for item in value]
    return value
