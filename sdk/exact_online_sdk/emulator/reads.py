"""Reads: a collection page, one entity by key, ``/$count``, and ``$expand`` of navigation collections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import catalog
from .exceptions import ApiError
from .query import check_rules, count_rows, int_param, matching_rows, next_link, select_fields, where
from .responses import ApiResult, bare_collection, collection, deferred, entity, single

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = ["count", "get_many", "get_one", "render"]


def render(es: EntitySet, i: int, scalars: list[str], navs: list[str], expand: set[str]) -> dict[str, Any]:
    """Row ``i`` as Exact's JSON entity with the given fields; navigations deferred unless expanded."""
    table = es.table
    uri = es.entity_uri(i) if table.key else es.collection_url
    links = {nav: ({"results": _expand(es, i, nav)} if nav in expand else deferred(f"{uri}/{nav}")) for nav in navs}
    return entity(uri, table.type_name, table.row(i, scalars), links)


def _expand(es: EntitySet, i: int, nav: str) -> list[dict[str, Any]]:
    """Children of row ``i`` in the navigation collection ``nav`` (linked by the parent's key field)."""
    target = es.fields[nav].edm_type.rsplit(".", 1)[-1]
    service = es.table.path.split("/", 1)[0]
    child_ep = catalog().get(f"{service}/{target}")
    if child_ep is None or len(es.table.key) != 1:
        return []
    link = es.table.key[0]
    if child_ep.field(link) is None:
        return []
    child = es.sibling(child_ep)
    mine = es.table.value(i, link)
    scalars = [f.name for f in child_ep.fields if not f.is_navigation]
    return [
        render(child, c, scalars, [], set()) for c in child.table.live_indices() if child.table.value(c, link) == mine
    ]


def _expand_names(es: EntitySet, params: dict[str, str]) -> set[str]:
    return {e.strip() for e in params.get("$expand", "").split(",") if e.strip()}


def get_many(es: EntitySet, params: dict[str, str]) -> ApiResult:
    """One page of a collection."""
    scalars, navs = select_fields(es, params)
    pred, used = where(es, params)
    check_rules(es, params, used)
    expand = _expand_names(es, params)
    for e in expand:
        if e not in es.fields or not es.fields[e].is_navigation:
            raise ApiError(400, f"No property '{e}' exists in type '{es.table.type_name}' at position 0.")
    navs = list(dict.fromkeys([*navs, *(e for e in expand if "$select" in params)]))
    top = int_param(params, "$top")
    skip = int_param(params, "$skip") or 0
    limit = es.ep.page_size if top is None else min(top, es.ep.page_size)
    picked: list[int] = []
    more = False
    matches = matching_rows(es, params, pred)
    for _ in range(skip):
        if next(matches, None) is None:
            break
    for i in matches:
        if len(picked) >= limit:
            more = True
            break
        picked.append(i)
    rows = [render(es, i, scalars, navs, expand) for i in picked]
    cfg = es.state.config
    if cfg.bare_array_top is not None and top == cfg.bare_array_top:
        return bare_collection(rows)
    count = count_rows(es, params, pred) if params.get("$inlinecount") == "allpages" else None
    remaining = None if top is None else top - len(picked)
    next_url = None
    if more and picked and (remaining is None or remaining > 0):
        next_url = next_link(es, params, picked[-1], remaining)
    return collection(rows, count=count, next_url=next_url)


def get_one(es: EntitySet, key: str, params: dict[str, str]) -> ApiResult:
    """One entity by key: ``{"d":{..}}``."""
    scalars, navs = select_fields(es, params)
    expand = _expand_names(es, params)
    i = es.key_index(key)
    return single(render(es, i, scalars, navs, expand))


def count(es: EntitySet, params: dict[str, str]) -> ApiResult:
    """``/$count``: the number of matching rows as plain text."""
    pred, used = where(es, params)
    check_rules(es, {**params, "$select": "x"} if es.ep.kind == "bulk" else params, used)
    return ApiResult(200, str(count_rows(es, params, pred)).encode(), "text/plain; charset=utf-8")
