"""The query engine: which rows a collection GET returns, in which order, and the link to the next page.

``$select``, ``$filter`` (compiled by :mod:`.filters`), ``$orderby``, ``$top``, ``$skip``, ``$skiptoken``,
``$inlinecount``, the sync API's Timestamp paging, and the rules Exact adds on top (``$select`` on bulk endpoints,
mandatory filtering).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .catalog import catalog
from .exceptions import ApiError
from .filters import FilterError, Predicate, compile_filter
from .store import Table

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = ["check_rules", "count_rows", "int_param", "matching_rows", "next_link", "select_fields", "where"]

_TS_BOUND = re.compile(r"\bTimestamp\s+(gt|ge)\s+(\d+)L?", re.IGNORECASE)


def select_fields(es: EntitySet, params: dict[str, str]) -> tuple[list[str], list[str]]:
    """(scalar field names, navigation names) to return, in the endpoint's field order."""
    text = params.get("$select", "").strip()
    if not text or text == "*":
        names = [f.name for f in es.ep.fields]
    else:
        names = [n.strip() for n in text.split(",") if n.strip()]
        for n in names:
            base = n.split("/", 1)[0]
            if base not in es.fields:
                raise ApiError(400, f"No property '{base}' exists in type '{es.table.type_name}' at position 0.")
        names = list(dict.fromkeys(n.split("/", 1)[0] for n in names))
    scalars = [n for n in names if not es.fields[n].is_navigation]
    navs = [n for n in names if es.fields[n].is_navigation]
    return scalars, navs


def where(es: EntitySet, params: dict[str, str]) -> tuple[Predicate | None, list[str]]:
    """The compiled ``$filter`` (None without one) and the fields it uses."""
    if "$filter" not in params:
        return None, []
    allowed = None
    if es.ep.kind == "sync":
        allowed = frozenset({"Timestamp", "EntityType"} if es.ep.path == "sync/Deleted" else {"Timestamp"})
    try:
        return compile_filter(params["$filter"], es.fields, allowed=allowed)
    except FilterError as exc:
        raise ApiError(400, str(exc)) from None


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
        raise ApiError(400, f"Invalid {name} value '{text}'. A non-negative integer is expected.")
    return int(text)


def matching_rows(es: EntitySet, params: dict[str, str], pred: Predicate | None) -> Iterator[int]:
    """Matching row indices in this endpoint's order, after ``$skiptoken``."""
    table = es.table
    skiptoken = params.get("$skiptoken")
    if es.ep.kind == "sync":
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
        source: Iterator[int] = table.by_timestamp(after)
    elif "$orderby" in params:
        source = iter(_ordered(es, params["$orderby"], pred, skiptoken))
        pred = None
    else:
        start = 0
        if skiptoken:
            start = _skip_index(table, skiptoken) + 1
        source = table.live_indices(start)
    if pred is None:
        yield from source
        return
    for i in source:
        if pred(_getter(table, i)):
            yield i


def count_rows(es: EntitySet, params: dict[str, str], pred: Predicate | None) -> int:
    """All matching rows, ignoring ``$skiptoken`` (``$inlinecount`` and ``/$count``)."""
    rest = {k: v for k, v in params.items() if k != "$skiptoken"}
    return sum(1 for _ in matching_rows(es, rest, pred))


def next_link(es: EntitySet, params: dict[str, str], last: int, remaining: int | None) -> str:
    """The ``__next`` URL after row ``last``: the original options plus ``$skiptoken`` (and the ``$top`` left)."""
    table = es.table
    if es.ep.kind == "sync":
        token = f"{table.timestamp(last)}L"
    elif "$orderby" not in params and len(table.key) == 1 and table.fields[table.key[0]].edm_type == "Edm.Guid":
        token = f"guid'{table.value(last, table.key[0])}'"
    else:
        token = str(last)
    query = [(k, v) for k, v in params.items() if k not in ("$skiptoken", "$top", "$skip")]
    if remaining is not None:
        query.append(("$top", str(remaining)))
    query.append(("$skiptoken", token))
    text = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:*/$')}" for k, v in query)
    return f"{es.collection_url}?{text}"


def _skip_index(table: Table, token: str) -> int:
    if token.startswith("guid'"):
        found = table.index_of_key((token[5:-1].lower(),))
    else:
        found = int(token) if token.isdigit() else None
    if found is None:
        raise ApiError(400, f"Invalid $skiptoken '{token}'.")
    return found


def _ordered(es: EntitySet, orderby: str, pred: Predicate | None, skiptoken: str | None) -> list[int]:
    table = es.table
    rows = [i for i in table.live_indices() if pred is None or pred(_getter(table, i))]
    for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        if name not in es.fields or es.fields[name].is_navigation:
            raise ApiError(400, f"No property '{name}' exists in type '{table.type_name}' at position 0.")
        desc = direction.strip().lower() == "desc"
        rows.sort(key=_order_key(table, name), reverse=desc)
    if skiptoken:
        idx = _skip_index(table, skiptoken)
        rows = rows[rows.index(idx) + 1 :] if idx in rows else []
    return rows


def _getter(table: Table, i: int) -> Callable[[str], Any]:
    return lambda name: table.value(i, name)


def _order_key(table: Table, name: str) -> Callable[[int], tuple[int, Any]]:
    return lambda i: _sort_key(table.value(i, name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, str) and value.startswith("/Date("):
        return (1, int(value[6:-2]))
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)
