"""Atom XML answers, which Exact sends when a request lacks ``Accept: application/json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = ["render_atom"]

_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)


def _prop(name: str, value: Any) -> str:
    if value is None:
        return f'<d:{name} m:null="true" />'
    if isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return f'<d:{name} m:type="Edm.Boolean">{"true" if value else "false"}</d:{name}>'
    if isinstance(value, str) and value.startswith("/Date(") and value.endswith(")/"):
        when = datetime.fromtimestamp(int(value[6:-2]) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f'<d:{name} m:type="Edm.DateTime">{when}</d:{name}>'
    if isinstance(value, int):
        return f'<d:{name} m:type="Edm.Int32">{value}</d:{name}>'
    if isinstance(value, float):
        return f'<d:{name} m:type="Edm.Double">{value!r}</d:{name}>'
    return f"<d:{name}>{escape(str(value))}</d:{name}>"


def _entry(row: dict[str, Any], updated: str) -> str:
    meta = row.get("__metadata", {})
    uri = meta.get("uri", "")
    props = "".join(_prop(k, v) for k, v in row.items() if k != "__metadata")
    links = "".join(
        f'<link rel="http://schemas.microsoft.com/ado/2007/08/dataservices/related/{k}" '
        f'type="application/atom+xml;type=feed" title="{k}" href={quoteattr(v["__deferred"]["uri"])} />'
        for k, v in row.items()
        if isinstance(v, dict) and "__deferred" in v
    )
    return (
        f'<entry><id>{escape(uri)}</id><title type="text" /><updated>{updated}</updated>'
        f'<author><name /></author><link rel="edit" href={quoteattr(uri)} />{links}'
        f"<category term={quoteattr(meta.get('type', ''))} "
        'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" />'
        f'<content type="application/xml"><m:properties>{props}</m:properties></content></entry>'
    )


def render_atom(payload: Any, url: str, now: float) -> bytes:
    """The Atom form of a JSON payload ``{"d": ...}`` (feed for collections, entry for one entity)."""
    updated = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    d = payload.get("d") if isinstance(payload, dict) else None
    head = '<?xml version="1.0" encoding="utf-8"?>'
    if (isinstance(d, dict) and "results" in d) or isinstance(d, list):
        rows = d if isinstance(d, list) else d["results"]
        entries = "".join(_entry(r, updated) for r in rows)
        nxt = ""
        if isinstance(d, dict) and "__next" in d:
            nxt = f'<link rel="next" href={quoteattr(d["__next"])} />'
        return (
            f'{head}<feed {_NS}><id>{escape(url)}</id><title type="text" /><updated>{updated}</updated>'
            f"{entries}{nxt}</feed>"
        ).encode()
    row = d if isinstance(d, dict) else {}
    return (head + _entry(row, updated).replace("<entry>", f"<entry {_NS}>", 1)).encode()
