"""Atom XML answers, which Exact sends when a request does not ask for JSON (FACTS §3.1: no ``Accept:
application/json``). Properties carry their Edm types from the catalog (``m:type="Edm.Guid"``), a key GET answers
one ``<entry>``, ``$inlinecount`` adds ``<m:count>``, expanded navigations are inline feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .catalog import catalog
from .seed import singular

__all__ = ["render_atom"]

_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"


@cache
def _types() -> dict[str, dict[str, str]]:
    """Entity type name -> property -> Edm type, for every table the catalog serves."""
    out: dict[str, dict[str, str]] = {}
    cat = catalog()
    for ep in cat:
        name = "Exact.Web.Api.Models." + singular(cat.table_path(ep).rsplit("/", 1)[-1])
        props = out.setdefault(name, {})
        for f in ep.fields:
            props.setdefault(f.name, f.edm_type)
    return out


def _text(value: Any, edm: str) -> str:
    if edm == "Edm.DateTime" and isinstance(value, str) and value.startswith("/Date("):
        when = datetime.fromtimestamp(int(value[6:-2]) / 1000, UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{when.microsecond // 1000:03d}" if when.microsecond else "")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return escape(str(value))


def _prop(name: str, value: Any, edm: str | None) -> str:
    if edm is None:
        edm = "Edm.Boolean" if isinstance(value, bool) else "Edm.Int32" if isinstance(value, int) else "Edm.String"
    typed = "" if edm == "Edm.String" else f" m:type={quoteattr(edm)}"
    if value is None:
        return f'<d:{name}{typed} m:null="true" />'
    return f"<d:{name}{typed}>{_text(value, edm)}</d:{name}>"


def _entry(row: dict[str, Any], updated: str) -> str:
    meta = row.get("__metadata", {})
    uri = meta.get("uri", "")
    types = _types().get(meta.get("type", ""), {})
    props = "".join(_prop(k, v, types.get(k)) for k, v in row.items() if k != "__metadata" and not isinstance(v, dict))
    links = []
    for k, v in row.items():
        if not isinstance(v, dict):
            continue
        href = quoteattr(f"{uri}/{k}")
        head = f'<link rel="{_RELATED}{k}" type="application/atom+xml;type=feed" title="{k}" href={href}'
        if "__deferred" in v:
            links.append(f"{head} />")
        else:
            inline = "".join(_entry(child, updated) for child in v.get("results", []))
            links.append(f"{head}><m:inline><feed>{inline}</feed></m:inline></link>")
    return (
        f'<entry><id>{escape(uri)}</id><title type="text" /><updated>{updated}</updated>'
        f'<author><name /></author><link rel="edit" href={quoteattr(uri)} />{"".join(links)}'
        f"<category term={quoteattr(meta.get('type', ''))} "
        'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" />'
        f'<content type="application/xml"><m:properties>{props}</m:properties></content></entry>'
    )


def render_atom(payload: Any, url: str, now: float) -> bytes:
    """The Atom form of a JSON payload ``{"d": ...}`` (a feed for collections, an entry for one entity)."""
    updated = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    d = payload.get("d") if isinstance(payload, dict) else None
    head = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
    if (isinstance(d, dict) and "results" in d) or isinstance(d, list):
        rows = d if isinstance(d, list) else d["results"]
        count = f"<m:count>{escape(str(d['__count']))}</m:count>" if isinstance(d, dict) and "__count" in d else ""
        entries = "".join(_entry(r, updated) for r in rows)
        nxt = f'<link rel="next" href={quoteattr(d["__next"])} />' if isinstance(d, dict) and "__next" in d else ""
        return (
            f'{head}<feed {_NS}><id>{escape(url)}</id><title type="text" /><updated>{updated}</updated>'
            f'<link rel="self" href={quoteattr(url)} />{count}{entries}{nxt}</feed>'
        ).encode()
    row = d if isinstance(d, dict) else {}
    return (head + _entry(row, updated).replace("<entry>", f"<entry {_NS}>", 1)).encode()
