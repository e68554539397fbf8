"""Reads: a collection page, one entity by key, a navigation collection (``Entries(guid'..')/Lines``), ``/$count``,
and ``$expand`` filled from the linked rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import catalog
from .exceptions import ApiError
from .query import Shape, check_options, check_rules, count_rows, int_param, matching_rows, next_link, shape, where
from .responses import ApiResult, bare_collection, collection, deferred, entity, single

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = ["count", "get_many", "get_one", "navigation", "render"]


def render(es: EntitySet, i: int, want: Shape) -> dict[str, Any]:
    """Row ``i`` as Exact's JSON entity in the given shape; navigations deferred unless expanded."""
    table = es.table
    uri = es.entity_uri(i) if table.key else es.collection_url
    links: dict[str, Any] = {}
    for nav in want.navs:
        if nav in want.expand:
            sub = want.expand[nav]
            links[nav] = {"results": [] if sub is None else [render(c, j, sub) for c, j in _children(es, i, nav)]}
        else:
            links[nav] = deferred(f"{uri}/{nav}")
    return entity(uri, table.type_name, table.row(i, want.scalars), links)


def _children(es: EntitySet, i: int, nav: str) -> list[tuple[EntitySet, int]]:
    """The rows of navigation collection ``nav`` of row ``i``: those whose link field holds the row's key."""
    child, rows = _child_rows(es, i, nav)
    return [(child, j) for j in rows] if child is not None else []


def _child_rows(es: EntitySet, i: int, nav: str) -> tuple[EntitySet | None, list[int]]:
    cat = catalog()
    relation = cat.relation(es.table.path, nav)
    target = cat.get(relation.link.target) if relation is not None else None
    if relation is None or target is None or len(es.table.key) != 1:
        return None, []
    child = es.sibling(target)
    return child, child.table.children(relation.column, es.table.value(i, es.table.key[0]))


def get_many(es: EntitySet, params: dict[str, str], scope: list[int] | None = None) -> ApiResult:
    """One page of a collection (of the rows in ``scope`` only, for a navigation collection)."""
    check_options(params)
    want = shape(es.ep, params)
    pred, used = where(es, params)
    if scope is None:  # a navigation collection is reached through its parent: no mandatory filter
        check_rules(es, params, used)
    top = int_param(params, "$top")
    skip = int_param(params, "$skip") or 0
    limit = es.ep.page_size if top is None else min(top, es.ep.page_size)
    picked: list[int] = []
    more = False
    matches = matching_rows(es, params, pred, scope)
    for _ in range(skip):
        if next(matches, None) is None:
            break
    for i in matches:
        if len(picked) >= limit:
            more = True
            break
        picked.append(i)
    rows = [render(es, i, want) for i in picked]
    count = count_rows(es, params, pred, scope) if params.get("$inlinecount") == "allpages" else None
    remaining = None if top is None else top - len(picked)
    next_url = None
    if more and picked and (remaining is None or remaining > 0):
        next_url = next_link(es, params, picked[-1], remaining)
    if _bare(es, top, next_url is None and count is None):
        return bare_collection(rows)
    return collection(rows, count=count, next_url=next_url)


def _bare(es: EntitySet, top: int | None, plain: bool) -> bool:
    """Whether a page answers ``{"d": [...]}``: the OData v1 form WCF Data Services sends when ``$top`` is given
    and nothing of v2 (``__next``, ``__count``) is needed ([O] exactpy, TIM; switch with ``top_envelope``)."""
    cfg = es.state.config
    if cfg.bare_array_top is not None:  # deprecated knob: exactly this $top
        return top == cfg.bare_array_top
    if top is None or not plain or cfg.top_envelope == "results":
        return False
    return not (cfg.top_envelope == "bare_except_top1" and top == 1)


def get_one(es: EntitySet, key: str, params: dict[str, str]) -> ApiResult:
    """One entity by key: ``{"d":{..}}``."""
    check_options(params)
    want = shape(es.ep, params)
    return single(render(es, es.key_index(key), want))


def navigation(es: EntitySet, key: str, nav: str, params: dict[str, str], *, counting: bool) -> ApiResult:
    """``Parent(key)/Nav`` (a collection page, paged and queryable like any other) or ``.../Nav/$count``."""
    check_options(params)
    i = es.key_index(key)
    f = es.fields.get(nav)
    if f is None or not f.is_navigation:
        raise ApiError(404, f"Resource not found for the segment '{nav}'.")
    child, rows = _child_rows(es, i, nav)
    if child is None:
        if "." in f.edm_type:  # a single entity the reference does not describe
            raise ApiError(404, f"Resource not found for the segment '{nav}'.")
        return ApiResult(200, b"0", "text/plain; charset=utf-8") if counting else collection([])
    child.collection_url = f"{es.entity_uri(i)}/{nav}"
    if counting:
        pred, _ = where(child, params)
        return ApiResult(200, str(count_rows(child, params, pred, rows)).encode(), "text/plain; charset=utf-8")
    return get_many(child, params, rows)


def count(es: EntitySet, params: dict[str, str]) -> ApiResult:
    """``/$count``: the number of matching rows as plain text."""
    check_options(params)
    pred, used = where(es, params)
    check_rules(es, {**params, "$select": "x"} if es.ep.kind == "bulk" else params, used)
    return ApiResult(200, str(count_rows(es, params, pred)).encode(), "text/plain; charset=utf-8")
