"""Hand-written base of the generated models: the Edm field types and :class:`ExactModel`.

Reads are tolerant (unknown fields kept in ``model_extra``, ``__metadata`` dropped from dumps); writes are strict
(see :mod:`exact_online_sdk.models._write`). Every field is optional: Exact returns ``null`` freely and
``$select`` returns subsets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .. import edm
from ..registry.deleted import DeletedEntityType

__all__ = [
    "Binary",
    "Boolean",
    "DateTime",
    "DeletedType",
    "Double",
    "ExactModel",
    "Guid",
    "Int",
    "NavEntity",
    "NavList",
    "Text",
]

_EPOCH: Final = datetime(1970, 1, 1)
_WIRE: Final[frozenset[str]] = frozenset()


def _read_datetime(value: Any) -> Any:
    """``/Date(ms)/`` -> naive wall-clock datetime (edm's rule); a fast path for the common plain form."""
    if value.__class__ is str and value.startswith("/Date(") and value.endswith(")/"):
        digits = value[6:-2]
        # 14 ASCII digits reach past the year 5000: the plain sum cannot overflow; the rest goes to edm, which
        # refuses what leaves the calendar with an EdmValueError (a ValueError pydantic reports per field).
        if len(digits) <= 14 and digits.isascii() and digits.isdigit():
            return _EPOCH + timedelta(milliseconds=int(digits))
    return edm.parse_datetime(value)


def _read_binary(value: Any) -> Any:
    """Base64 text -> bytes; other text (Exact sends a download URL for some documents) stays text."""
    if isinstance(value, str):
        try:
            return edm.parse_binary(value)
        except edm.EdmValueError:
            return value
    return value


def _read_navigation(value: Any) -> Any:
    """A navigation value: ``{"__deferred": ...}`` (not expanded) -> None, ``{"results": [...]}`` -> the list."""
    if isinstance(value, dict):
        if "__deferred" in value:
            return None
        if "results" in value:
            return value["results"]
    return value


def _read_entity(value: Any) -> Any:
    if isinstance(value, dict) and "__deferred" in value:
        return None
    return value


Text = str | None
Guid = UUID | None
Int = int | None
Double = Decimal | None
Boolean = bool | None
DateTime = Annotated[datetime | None, BeforeValidator(_read_datetime)]
Binary = Annotated[bytes | str | None, BeforeValidator(_read_binary)]
# sync/Deleted ``EntityType``: the enum for known codes, a plain int for codes Exact adds later.
DeletedType = Annotated[DeletedEntityType | int | None, Field(union_mode="left_to_right")]

M = TypeVar("M", bound="ExactModel")
NavList = Annotated[list[M] | None, BeforeValidator(_read_navigation)]
NavEntity = Annotated[M | None, BeforeValidator(_read_entity)]


class ExactModel(BaseModel):
    """Base of every entity model: Exact's names as aliases, snake_case attributes, extras kept.

    Assigning an attribute records it as changed, so an update sends only what you changed.
    """

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        validate_assignment=True,
        protected_namespaces=(),
        ser_json_bytes="base64",
    )
    # Set on rows parsed from a response: the names assigned since (see _write.changed_fields).
    __slots__ = ("_eo_changed",)

    __exact_path__: ClassVar[str] = ""

    odata_metadata: Any = Field(default=None, alias="__metadata", exclude=True, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        tracked: frozenset[str] | set[str] | None = getattr(self, "_eo_changed", None)
        if tracked is None:
            return
        if tracked is _WIRE:
            tracked = set()
            object.__setattr__(self, "_eo_changed", tracked)
        assert isinstance(tracked, set)
        tracked.add(name)


def mark_from_wire(rows: list[M]) -> list[M]:
    """Mark parsed rows as 'as Exact sent them': later writes send only the attributes assigned afterwards."""
    for row in rows:
        object.__setattr__(row, "_eo_changed", _WIRE)
    return rows
