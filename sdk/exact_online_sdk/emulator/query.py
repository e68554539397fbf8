"""The query engine: which rows a collection GET returns, in which order, and the link to the next page.

System query options as WCF Data Services (OData v2, which Exact runs) accepts them: ``$filter`` (compiled by
:mod:`.filters`), ``$select``/``$expand`` (nested, ``Lines/Amount``), ``$orderby``, ``$top``, ``$skip``,
``$skiptoken``, ``$inlinecount`` and ``$format``; any other ``$`` option (``$bogus``, ``$TOP``) is refused. Other
query parameters are the parameters of ``read/...`` functions (``RevenueListByYear?year=2024``) and are ignored
elsewhere. Exact's own rules sit on top: ``$select`` on bulk endpoints, mandatory filtering, and the sync API's
paging by Timestamp.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..exceptions import ODataError
from ..odata import literal, parse_typed_literal
from ..registry import Endpoint
from .catalog import catalog
from .exceptions import ApiError
from .filters import FilterError, Getter, Predicate, compile_filter
from .seed import singular
from .store import Table

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = [
    "SYSTEM_OPTIONS",
    "Shape",
    "check_options",
    "check_rules",
    "count_rows",
    "int_param",
    "matching_rows",
    "next_link",
    "shape",
    "where",
]

SYSTEM_OPTIONS = frozenset(
    {"$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$skiptoken", "$inlinecount", "$format"}
)
_TS_BOUND = re.compile(r"\bTimestamp\s+(gt|ge)\s+(\d+)L?", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1)


def check_options(params: dict[str, str]) -> None:
    """Refuse the system query options WCF Data Services does not know (names are case-sensitive)."""
    for name in params:
        if name.startswith("$") and name not in SYSTEM_OPTIONS:
            raise ApiError(
                400, f"The query parameter '{name}' begins with a system-reserved '$' character but is not recognized."
            )
    count = params.get("$inlinecount")
    if count is not None and count not in ("allpages", "none"):
        raise ApiError(400, 'Unknown $inlinecount option, only "allpages" and "none" are supported')


# --- $select / $expand ------------------------------------------------------------------------------------------


@dataclass
class Shape:
    """What to render of an entity: scalar fields, navigation properties, and the shape of each expanded one."""

    scalars: list[str]
    navs: list[str]
    expand: dict[str, Shape | None] = field(default_factory=dict)  # None: the target set is unknown


def shape(ep: Endpoint, params: dict[str, str]) -> Shape:
    """The shape ``$select`` and ``$expand`` ask for (everything, navigations deferred, when both are absent)."""
    select = params.get("$select", "").strip()
    selects = None if not select else [item.strip().split("/") for item in select.split(",") if item.strip()]
    expands = [item.strip().split("/") for item in params.get("$expand", "").split(",") if item.strip()]
    return _shape(ep, selects, expands)


def _shape(ep: Endpoint, selects: list[list[str]] | None, expands: list[list[str]]) -> Shape:
    type_name = _type_name(ep)
    fields = {f.name: f for f in ep.fields}
    expanded = list(dict.fromkeys(path[0] for path in expands))
    for name in expanded:
        if name not in fields or not fields[name].is_navigation:
            raise ApiError(400, f"No property '{name}' exists in type '{type_name}' at position 0.")
    if selects is None or ["*"] in selects:
        scalars = [f.name for f in ep.fields if not f.is_navigation]
        navs = [f.name for f in ep.fields if f.is_navigation]
    else:
        for path in selects:
            if path[0] not in fields:
                raise ApiError(400, f"No property '{path[0]}' exists in type '{type_name}' at position 0.")
            if len(path) > 1 and path[0] not in expanded:
                raise ApiError(
                    400,
                    "Only properties specified in $expand can be traversed in $select query options. "
                    f"Selected item: '{'/'.join(path)}'.",
                )
        chosen = {path[0] for path in selects} | set(expanded)
        scalars = [f.name for f in ep.fields if f.name in chosen and not f.is_navigation]
        navs = [f.name for f in ep.fields if f.name in chosen and f.is_navigation]
    out = Shape(scalars, navs)
    for name in expanded:
        target = _target(ep, name)
        if target is None:
            out.expand[name] = None
            continue
        sub_selects = None
        if selects is not None and ["*"] not in selects and [name] not in selects:
            sub_selects = [path[1:] for path in selects if path[0] == name and len(path) > 1] or None
        out.expand[name] = _shape(target, sub_selects, [path[1:] for path in expands if path[0] == name and path[1:]])
    return out


def _target(ep: Endpoint, nav: str) -> Endpoint | None:
    cat = catalog()
    relation = cat.relation(cat.table_path(ep), nav)
    return cat.get(relation.link.target) if relation is not None else None


def _type_name(ep: Endpoint) -> str:
    return "Exact.Web.Api.Models." + singular(catalog().table_path(ep).rsplit("/", 1)[-1])


# --- $filter and function parameters ----------------------------------------------------------------------------


def where(es: EntitySet, params: dict[str, str]) -> tuple[Predicate | None, list[str]]:
    """The compiled ``$filter`` and ``read/...`` function parameters (None without either), and the fields used."""
    pred: Predicate | None = None
    used: list[str] = []
    if "$filter" in params:
        allowed = None
        if es.ep.kind == "sync":
            allowed = frozenset({"Timestamp", "EntityType"} if es.ep.path == "sync/Deleted" else {"Timestamp"})
        try:
            pred, used = compile_filter(params["$filter"], es.fields, allowed=allowed)
        except FilterError as exc:
            raise ApiError(400, str(exc)) from None
    if es.ep.kind == "read":
        arguments = _function_arguments(es, params)
        if arguments:
            pred = _and(pred, _equal_all(arguments))
            used = [*used, *arguments]
    return pred, used


def _function_arguments(es: EntitySet, params: dict[str, str]) -> dict[str, Any]:
    """``?year=2024&accountId=guid'..'`` -> ``{"Year": 2024, "AccountId": "..."}`` for the fields they name.

    [U] The reference lists no function parameters: a parameter names the field spelled like it (ignoring case and
    a trailing ``Id``); one that names no field is ignored, as WCF ignores unknown custom query options.
    """
    by_lower = {name.lower(): f for name, f in es.fields.items() if not f.is_navigation}
    out: dict[str, Any] = {}
    for name, text in params.items():
        if name.startswith("$"):
            continue
        low = name.lower()
        f = by_lower.get(low) or (by_lower.get(low[:-2]) if low.endswith("id") else None)
        if f is None:
            continue
        try:
            value, _ = parse_typed_literal(text)
        except ODataError:
            value = text
        out[f.name] = _comparable_value(value, f.edm_type)
    return out


def _comparable_value(value: Any, edm: str) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if edm.startswith("Edm.Int") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if edm == "Edm.String" and not isinstance(value, str) and value is not None:
        return str(value)
    return value


def _equal_all(arguments: dict[str, Any]) -> Predicate:
    def match(get: Getter) -> bool:
        for name, wanted in arguments.items():
            have = get(name)
            if isinstance(have, str) and isinstance(wanted, str):
                if have.lower() != wanted.lower():
                    return False
            elif (int(have) if isinstance(have, str) and have.isdigit() else have) != wanted:
                return False
        return True

    return match


def _and(left: Predicate | None, right: Predicate) -> Predicate:
    return right if left is None else (lambda g: left(g) and right(g))


# --- Exact's rules ------------------------------------------------------------------------------------------------


def check_rules(es: EntitySet, params: dict[str, str], used: list[str]) -> None:
    """Exact's extra rules: ``$select`` on bulk endpoints and where configured, mandatory filtering."""
    cfg = es.state.config
    ep = es.ep
    if ep.kind == "bulk" and "$select" not in params:
        raise ApiError(400, "Please add a $select statement to the query string.")
    if ep.path in cfg.require_select and "$select" not in params and params.get("$top") != "1":
        raise ApiError(400, "Please add a $select or a $top=1 statement to the query string.")
    if (
        cfg.mandatory_filtering
        and ep.kind in ("standard", "bulk")
        and es.table.path in catalog().sync_tables
        and not set(used) & _mandatory_filter_fields(es)
    ):
        fields = ",".join(sorted(_mandatory_filter_fields(es)))
        raise ApiError(
            400,
            "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a "
            f"$filter parameter with one of the following fields in the url:{fields}",
        )


def _mandatory_filter_fields(es: EntitySet) -> set[str]:
    out = set(es.table.key) | {"Modified", "Created"}
    out |= {f.name for f in es.ep.fields if f.edm_type == "Edm.Guid"}
    return out & set(es.fields)


def int_param(params: dict[str, str], name: str) -> int | None:
    """A non-negative integer option (``$top``, ``$skip``), None when absent."""
    if name not in params:
        return None
    text = params[name].strip()
    if not text.isdigit():
        raise ApiError(400, f"Incorrect format for {name} argument '{text}'.")
    return int(text)


# --- row order and paging -----------------------------------------------------------------------------------------


def matching_rows(
    es: EntitySet, params: dict[str, str], pred: Predicate | None, scope: list[int] | None = None
) -> Iterator[int]:
    """Matching row indices in the endpoint's order, after ``$skiptoken`` (only rows in ``scope`` when given)."""
    table = es.table
    skiptoken = params.get("$skiptoken")
    source: Iterable[int]
    if es.ep.kind == "sync":
        source = table.by_timestamp(_sync_after(params, skiptoken))
    elif "$orderby" in params:
        source = _ordered(es, params["$orderby"], pred, skiptoken, scope)
        pred = None
    else:
        start = _after_key(es, skiptoken) + 1 if skiptoken else 0
        source = table.live_indices(start) if scope is None else (i for i in scope if i >= start)
    if pred is None:
        yield from source
        return
    for i in source:
        if pred(_getter(table, i)):
            yield i


def _sync_after(params: dict[str, str], skiptoken: str | None) -> int:
    after = 0
    if skiptoken:
        try:
            after = int(skiptoken.rstrip("Ll"))
        except ValueError:
            raise ApiError(400, f"Invalid $skiptoken '{skiptoken}'.") from None
    ftext = params.get("$filter", "")
    low = f" {ftext.lower()} "
    if " or " not in low and " not " not in low and "not(" not in low:
        for op, value in _TS_BOUND.findall(ftext):
            after = max(after, int(value) - (1 if op.lower() == "ge" else 0))
    return after


def count_rows(es: EntitySet, params: dict[str, str], pred: Predicate | None, scope: list[int] | None = None) -> int:
    """All matching rows, ignoring ``$skiptoken`` (``$inlinecount`` and ``/$count``)."""
    rest = {k: v for k, v in params.items() if k not in ("$skiptoken", "$orderby")}
    return sum(1 for _ in matching_rows(es, rest, pred, scope))


def next_link(es: EntitySet, params: dict[str, str], last: int, remaining: int | None) -> str:
    """The ``__next`` URL after row ``last``: the original options plus ``$skiptoken`` (and the ``$top`` left).

    The skiptoken is what WCF Data Services writes: the key's literal(s) (``guid'..'``), preceded by the row's
    ``$orderby`` values when the query is ordered; ``{Timestamp}L`` on sync endpoints.
    """
    table = es.table
    if es.ep.kind == "sync":
        token = f"{table.timestamp(last)}L"
    else:
        names = [name for name, _ in _order_terms(es, params["$orderby"])] if "$orderby" in params else []
        token = ",".join([*(_literal(table, last, n) for n in names), *_key_literals(table, last)])
    query = [(k, v) for k, v in params.items() if k not in ("$skiptoken", "$top", "$skip")]
    if remaining is not None:
        query.append(("$top", str(remaining)))
    query.append(("$skiptoken", token))
    text = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:*/$')}" for k, v in query)
    return f"{es.collection_url}?{text}"


def _key_literals(table: Table, i: int) -> list[str]:
    if not table.key:
        return [str(i)]
    return [_literal(table, i, k) for k in table.key]


def _literal(table: Table, i: int, name: str) -> str:
    value = table.value(i, name)
    edm = table.fields[name].edm_type
    if value is None:
        return "null"
    if edm == "Edm.DateTime" and isinstance(value, str):
        return literal(_EPOCH + _ms(value))
    if edm == "Edm.Int64":
        return literal(int(value), edm)
    return literal(value, edm if edm in ("Edm.Guid", "Edm.String") else None)


def _ms(wire: str) -> timedelta:
    return timedelta(milliseconds=int(wire[6:-2]))


def _token_values(token: str) -> list[Any]:
    """A skiptoken's literals as comparable values."""
    values = []
    for piece in re.findall(r"(?:[^,']|'(?:[^']|'')*')+", token):
        try:
            value, edm = parse_typed_literal(piece)
        except ODataError:
            raise ApiError(400, f"Invalid $skiptoken '{token}'.") from None
        if edm == "Edm.Guid":
            value = str(value)
        elif edm == "Edm.DateTime":
            value = round((value - _EPOCH).total_seconds() * 1000)
        values.append(value)
    return values


def _after_key(es: EntitySet, token: str) -> int:
    """The row index a key skiptoken names (also a row deleted since the page was served)."""
    table = es.table
    values = _token_values(token)
    if not table.key:
        if len(values) == 1 and isinstance(values[0], int):
            return values[0]
        raise ApiError(400, f"Invalid $skiptoken '{token}'.")
    key = tuple(
        str(v).lower() if isinstance(v, str) and table.fields[k].edm_type == "Edm.Guid" else v
        for k, v in zip(table.key, values, strict=False)
    )
    found = table.index_of_key(key, include_deleted=True) if len(key) == len(table.key) else None
    if found is None:
        raise ApiError(400, f"Invalid $skiptoken '{token}'.")
    return found


def _order_terms(es: EntitySet, orderby: str) -> list[tuple[str, bool]]:
    terms = []
    for part in [p.strip() for p in orderby.split(",") if p.strip()]:
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower()
        if name not in es.fields or es.fields[name].is_navigation or direction not in ("", "asc", "desc"):
            raise ApiError(400, f"No property '{name}' exists in type '{es.table.type_name}' at position 0.")
        terms.append((name, direction == "desc"))
    return terms


def _ordered(
    es: EntitySet, orderby: str, pred: Predicate | None, skiptoken: str | None, scope: list[int] | None
) -> list[int]:
    table = es.table
    terms = _order_terms(es, orderby)
    rows = [i for i in (table.live_indices() if scope is None else scope) if pred is None or pred(_getter(table, i))]
    keyed = [(_sort_tuple(table, i, terms), i) for i in rows]

    def by_terms(a: tuple[tuple[Any, ...], int], b: tuple[tuple[Any, ...], int]) -> int:
        return _compare(a[0], b[0], terms)

    keyed.sort(key=functools.cmp_to_key(by_terms))
    if skiptoken:
        values = _token_values(skiptoken)
        if len(values) != len(terms) + max(len(table.key), 1):
            raise ApiError(400, f"Invalid $skiptoken '{skiptoken}'.")
        mark = tuple(_sort_key(v) for v in values)
        keyed = [item for item in keyed if _compare(item[0], mark, terms) > 0]
    return [i for _, i in keyed]


def _sort_tuple(table: Table, i: int, terms: list[tuple[str, bool]]) -> tuple[Any, ...]:
    names = [name for name, _ in terms] + list(table.key)
    keys = [_sort_key(_comparable(table.value(i, n), table.fields[n].edm_type)) for n in names]
    return tuple(keys if table.key else [*keys, _sort_key(i)])


def _compare(a: tuple[Any, ...], b: tuple[Any, ...], terms: list[tuple[str, bool]]) -> int:
    """Compare two sort tuples: the ``$orderby`` terms in their directions, then the key ascending."""
    for pos, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            sign = -1 if pos < len(terms) and terms[pos][1] else 1
            return sign if x > y else -sign
    return 0


def _getter(table: Table, i: int) -> Callable[[str], Any]:
    return lambda name: table.value(i, name)


def _comparable(value: Any, edm: str) -> Any:
    """A stored wire value in the form a skiptoken literal reads back to (dates in ms, Int64 as int)."""
    if not isinstance(value, str):
        return value
    if edm == "Edm.DateTime" and value.startswith("/Date("):
        return int(value[6:-2])
    if edm == "Edm.Int64":
        return int(value)
    return value.lower() if edm == "Edm.Guid" else value


def _sort_key(value: Any) -> tuple[int, Any]:
    # nulls first, as WCF Data Services sorts them
    if value is None:
        return (0, 0)
    return (1, int(value) if isinstance(value, bool) else value)
