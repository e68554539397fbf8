"""Sans-IO planning for endpoint classes: query options, key literals and write bodies.

Both executors (:mod:`._async`, and :mod:`._blocking` generated from it) call these and only add the I/O, so
blocking and async behave the same by construction. Nothing here imports pydantic: the models load on the first
write (or ``get``), so reading rows never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast
from uuid import UUID

from .. import edm, odata
from ..exceptions import ODataError
from ..models._row import ExactRow, exact_fields
from ..registry import Endpoint, registry

if TYPE_CHECKING:
    from ..models._types import ExactModel

__all__ = ["Call", "Key", "Planner"]

R = TypeVar("R", bound=ExactRow)
M = TypeVar("M", bound="ExactModel")

Key = UUID | str | int | Mapping[str, Any] | Sequence[Any]
Filters = str | odata.Filter | Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Call:
    """One planned request: method, relative path, query parameters and JSON body."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


def _key_literal(edm_type: str, value: Any) -> str:
    """A key value as a literal of its field's Edm type (written by :func:`odata.literal`, the one codec)."""
    if edm_type == "Edm.Guid":
        return odata.literal(edm.parse_guid(value), edm_type)
    if edm_type in ("Edm.Int64", "Edm.Int32", "Edm.Int16", "Edm.Byte"):
        return odata.literal(edm.parse_int(value, edm_type), edm_type)
    if edm_type == "Edm.DateTime" and isinstance(value, date | datetime):
        return odata.literal(value, edm_type)
    if not isinstance(value, str):
        raise ODataError(f"a key of type {edm_type} must be text, got {type(value).__name__}")
    return odata.literal(value)


def filter_expression(filters: Filters, endpoint: str | None = None) -> str | None:
    """``$filter`` text from text, an :class:`odata.Filter` or the seed's ``{"Email": ("eq", "x")}`` form."""
    if filters is None or isinstance(filters, str):
        return filters or None
    if isinstance(filters, odata.Filter):
        return str(filters) or None
    return str(odata.build_filter(filters, endpoint=endpoint)) or None


class _ModelOf:
    """``Endpoint.model``: the pydantic model of the endpoint's rows, imported on first access."""

    def __get__(self, instance: object, owner: type[Planner[Any, Any]]) -> type[ExactModel]:
        return owner.row.model_class()


class Planner(Generic[R, M]):
    """What every endpoint class knows: its path, row class, model and registry entry; plans calls without I/O.

    Reads give rows (``row``: fast, exact, read-only); writes take models (``model``: strict, changed fields only).
    """

    path: ClassVar[str]
    row: ClassVar[type[ExactRow]]
    if TYPE_CHECKING:
        model: ClassVar[type[ExactModel]]
    else:
        model = _ModelOf()

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

    @classmethod
    def _row(cls) -> type[R]:
        return cast(type[R], cls.row)

    def _div(self, division: int | None) -> int | None:
        return self._division if division is None else division

    # -- reads ----------------------------------------------------------------------------------------------

    def _default_select(self) -> list[str] | None:
        # Exact's bulk and sync endpoints want $select. The row class knows the fields: reading loads no registry.
        if not self.path.startswith(("bulk/", "sync/")):
            return None
        return [name for name, navigation in exact_fields(self._row()).items() if not navigation]

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
        known = exact_fields(self._row())
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ODataError(f"{self.path} has no field {', '.join(unknown)}")

    def key_path(self, key: Key | ExactModel | ExactRow) -> str:
        """``path(guid'..')``, ``path(42)``, ``path('EUR')`` or ``path(A=..,B=..)`` for a key or a model."""
        endpoint = self.endpoint()
        names = endpoint.keys
        if not names:
            raise TypeError(f"{self.path} has no key")
        values = self._key_values(key, names)
        types = {n: (endpoint.field(n).edm_type if endpoint.field(n) else "Edm.String") for n in names}  # type: ignore[union-attr]
        if len(names) == 1:
            return f"{self.path}({_key_literal(types[names[0]], values[names[0]])})"
        inner = ",".join(f"{n}={_key_literal(types[n], values[n])}" for n in names)
        return f"{self.path}({inner})"

    def _key_values(self, key: Key | ExactModel | ExactRow, names: tuple[str, ...]) -> dict[str, Any]:
        by_wire = _attributes_by_exact_name(key)
        if by_wire is not None:
            values = {n: getattr(key, by_wire[n]) for n in names}
            missing = [n for n, v in values.items() if v is None]
            if missing:
                kind = "row" if isinstance(key, ExactRow) else "model"
                raise ValueError(f"{self.path}: the {kind} has no key value for {', '.join(missing)}")
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
        from ..models._write import write_body

        self._check_model(entity)
        return Call("POST", self.path, None, write_body(entity, "POST"))

    def plan_update(self, entity: Key | ExactModel | ExactRow, changes: ExactModel | None = None) -> Call | None:
        """The PUT of changed fields, or None when nothing changed; the key goes in the URL, not the body."""
        from ..models._types import ExactModel
        from ..models._write import write_body

        source = changes if changes is not None else entity
        if isinstance(source, ExactRow):
            raise TypeError(
                f"{type(source).__name__} is a read row: edit row.to_model() and pass that, "
                f"or pass the row as the key with a model of the changes"
            )
        if not isinstance(source, ExactModel):
            raise TypeError("update() needs a model, or a key and a model of changes")
        self._check_model(source)
        body = write_body(source, "PUT", exclude=frozenset(self.endpoint().keys))
        if not body:
            return None
        return Call("PUT", self.key_path(entity), None, body)

    def plan_delete(self, key: Key | ExactModel | ExactRow) -> Call:
        """The DELETE of one entity."""
        return Call("DELETE", self.key_path(key))

    def _check_model(self, entity: ExactModel) -> None:
        if not isinstance(entity, self.model):
            raise TypeError(f"{type(self).__name__} writes {self.model.__name__}, not {type(entity).__name__}")


def _attributes_by_exact_name(value: object) -> dict[str, str] | None:
    """Exact name -> attribute for a row or a model; None for a plain key."""
    if isinstance(value, ExactRow):
        cls = type(value)
        return dict(zip(cls.__struct_encode_fields__, cls.__struct_fields__, strict=True))
    from ..models._types import ExactModel

    if isinstance(value, ExactModel):
        return {info.alias or attr: attr for attr, info in type(value).model_fields.items()}
    return None


def wrong_client(cls: type, wanted: str) -> str:
    """The error text when an endpoint class is given the other flavour of client."""
    name = cls.__name__
    other = name.removeprefix("Async") if name.startswith("Async") else f"Async{name}"
    return f"{name} needs an {wanted}; use {other}"
