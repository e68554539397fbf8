"""Sans-IO planning for endpoint classes: query options, key literals and write bodies.

Both executors (:mod:`._sync` and :mod:`._async`) call these and only add the I/O, so sync and async behave
the same by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Generic, cast
from uuid import UUID

from .. import edm, odata
from ..exceptions import ODataError
from ..models._types import ExactModel, M
from ..models._write import write_body
from ..registry import Endpoint, registry

__all__ = ["Call", "Key", "Planner"]

Key = UUID | str | int | Mapping[str, Any] | Sequence[Any]
Filters = str | odata.Filter | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Call:
    """One planned request: method, relative path, query parameters and JSON body."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


def _literal(edm_type: str, value: Any) -> str:
    if edm_type == "Edm.Guid":
        guid = edm.parse_guid(value)
        return f"guid'{guid}'"
    if edm_type == "Edm.Int64":
        return f"{edm.parse_int64(value)}L"
    if edm_type in ("Edm.Int32", "Edm.Int16", "Edm.Byte"):
        return str(edm.parse_int(value, edm_type))
    if edm_type == "Edm.DateTime" and isinstance(value, date | datetime):
        return f"datetime'{edm.format_date_value(value)}'"
    if not isinstance(value, str):
        raise ODataError(f"a key of type {edm_type} must be text, got {type(value).__name__}")
    return "'" + value.replace("'", "''") + "'"


def filter_expression(filters: Filters, endpoint: str | None = None) -> str | None:
    """``$filter`` text from text, an :class:`odata.Filter` or the seed's ``{"Email": ("eq", "x")}`` form."""
    if filters is None or isinstance(filters, str):
        return filters or None
    if isinstance(filters, odata.Filter):
        return str(filters) or None
    return str(odata.build_filter(filters, endpoint=endpoint)) or None


class Planner(Generic[M]):
    """What every endpoint class knows: its path, model and registry entry; plans calls without I/O."""

    path: ClassVar[str]
    model: ClassVar[type[ExactModel]]

    def __init__(self, client: Any, *, division: int | None = None) -> None:
        self._client = client
        self._division = division

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @classmethod
    def endpoint(cls) -> Endpoint:
        """The registry entry of this endpoint."""
        return registry()[cls.path]

    @classmethod
    def _model(cls) -> type[M]:
        return cast(type[M], cls.model)

    def _div(self, division: int | None) -> int | None:
        return self._division if division is None else division

    # -- reads ----------------------------------------------------------------------------------------------

    def _default_select(self) -> list[str] | None:
        endpoint = self.endpoint()
        if endpoint.kind not in ("bulk", "sync"):
            return None
        return [f.name for f in endpoint.fields if not f.is_navigation]

    def plan_list(
        self,
        *,
        filters: Filters = None,
        select: Iterable[str] | None = None,
        top: int | None = None,
        orderby: str | Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Call:
        """The GET of a collection with its OData options (``$select`` defaults to every field on bulk/sync)."""
        query: dict[str, Any] = dict(params or {})
        text = filter_expression(filters, self.path)
        if text:
            query["$filter"] = text
        chosen = list(select) if select is not None else self._default_select()
        if chosen:
            self._check_fields(chosen)
            query["$select"] = ",".join(chosen)
        if top is not None:
            if top < 0:
                raise ValueError("top must be >= 0")
            query["$top"] = top
        if orderby:
            query["$orderby"] = orderby if isinstance(orderby, str) else ",".join(orderby)
        if expand:
            query["$expand"] = expand if isinstance(expand, str) else ",".join(expand)
        return Call("GET", self.path, query or None)

    def plan_since(self, timestamp: int, *, filters: Filters = None, select: Iterable[str] | None = None) -> Call:
        """The GET of rows changed after ``timestamp`` (sync endpoints: ``Timestamp gt nL``)."""
        since = f"Timestamp gt {int(timestamp)}L"
        extra = filter_expression(filters, self.path)
        return self.plan_list(filters=f"{since} and {extra}" if extra else since, select=select)

    def _check_fields(self, names: Iterable[str]) -> None:
        endpoint = self.endpoint()
        unknown = [n for n in names if endpoint.field(n) is None]
        if unknown:
            raise ODataError(f"{self.path} has no field {', '.join(unknown)}")

    def key_path(self, key: Key | ExactModel) -> str:
        """``path(guid'..')``, ``path(42)``, ``path('EUR')`` or ``path(A=..,B=..)`` for a key or a model."""
        endpoint = self.endpoint()
        names = endpoint.keys
        if not names:
            raise TypeError(f"{self.path} has no key")
        values = self._key_values(key, names)
        types = {n: (endpoint.field(n).edm_type if endpoint.field(n) else "Edm.String") for n in names}  # type: ignore[union-attr]
        if len(names) == 1:
            return f"{self.path}({_literal(types[names[0]], values[names[0]])})"
        inner = ",".join(f"{n}={_literal(types[n], values[n])}" for n in names)
        return f"{self.path}({inner})"

    def _key_values(self, key: Key | ExactModel, names: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(key, ExactModel):
            by_alias = {info.alias or attr: attr for attr, info in type(key).model_fields.items()}
            values = {n: getattr(key, by_alias[n]) for n in names}
            missing = [n for n, v in values.items() if v is None]
            if missing:
                raise ValueError(f"{self.path}: the model has no key value for {', '.join(missing)}")
            return values
        if len(names) == 1 and not isinstance(key, Mapping | list | tuple):
            return {names[0]: key}
        if isinstance(key, Mapping):
            if set(key) != set(names):
                raise ValueError(f"{self.path} is keyed by {', '.join(names)}")
            return dict(key)
        if isinstance(key, list | tuple) and len(key) == len(names):
            return dict(zip(names, key, strict=True))
        raise ValueError(f"{self.path} is keyed by {', '.join(names)}")

    # -- writes ---------------------------------------------------------------------------------------------

    def plan_create(self, entity: ExactModel) -> Call:
        """The POST creating ``entity`` (only set, POST-writable fields)."""
        self._check_model(entity)
        return Call("POST", self.path, None, write_body(entity, "POST"))

    def plan_update(self, entity: Key | ExactModel, changes: ExactModel | None = None) -> Call | None:
        """The PUT of changed fields, or None when nothing changed; the key goes in the URL, not the body."""
        source = changes if changes is not None else entity
        if not isinstance(source, ExactModel):
            raise TypeError("update() needs a model, or a key and a model of changes")
        self._check_model(source)
        body = write_body(source, "PUT", exclude=frozenset(self.endpoint().keys))
        if not body:
            return None
        return Call("PUT", self.key_path(entity), None, body)

    def plan_delete(self, key: Key | ExactModel) -> Call:
        """The DELETE of one entity."""
        return Call("DELETE", self.key_path(key))

    def _check_model(self, entity: ExactModel) -> None:
        if not isinstance(entity, self.model):
            raise TypeError(f"{type(self).__name__} writes {self.model.__name__}, not {type(entity).__name__}")
