"""Write the compact endpoint registry the installed package reads at run time.

Input: ``tools/reference/endpoints.json`` (Exact's REST reference facts, copied from ``../shared``). Output:
``sdk/exact_online_sdk/registry/endpoints.json``: one line per endpoint. Fields are
``[name, edm_type, writable, *extras]`` where ``writable`` is ``"PP"`` (POST and PUT), ``"P"`` (POST only), ``"U"``
(PUT only) or ``""`` (read-only), and the optional extras are the flags ``"hidden"`` and ``"mandatory"`` (the
reference calls the field mandatory on POST) and an object of documented values (``{"D": "Debit", "C": "Credit"}``).
``links`` lists the navigation collections whose entity set is known: ``[property, child set path, link field]``,
where the link field is the child's field that holds the parent's key (null when the reference does not show one).
Called by ``tools/codegen.py``; reproducible byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / "tools" / "reference" / "endpoints.json"
TARGET = ROOT / "sdk" / "exact_online_sdk" / "registry" / "endpoints.json"

_WRITABLE = {("POST", "PUT"): "PP", ("POST",): "P", ("PUT",): "U", (): ""}

# Link fields the naming rules below cannot see, each from the child's field list in the reference:
# the activity attachments name their activity ``Request``; the monitoring indicators' G/L accounts name their
# indicator ``Indicator``; purchase return lines carry ``EntryID`` like the lines of GoodsDeliveries and
# DropShipments, whose headers are keyed by it (by analogy: the return's key is called ``ID``).
_LINK_OVERRIDES: dict[tuple[str, str], str] = {
    **{(f"activities/{name}", "Attachments"): "Request" for name in ("CommunicationNotes", "Complaints", "Events")},
    **{(f"activities/{name}", "Attachments"): "Request" for name in ("ServiceRequests", "Tasks")},
    **{
        (f"continuousmonitoring/{name}", "IndicatorGLAccounts"): "Indicator"
        for name in (
            "IndicatorBalances",
            "IndicatorDeviatingAmountEntereds",
            "IndicatorDifferentVatCodes",
            "IndicatorUsageOfJournals",
        )
    },
    ("purchaseorder/PurchaseReturns", "PurchaseReturnLines"): "EntryID",
}


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("sses") or name.endswith("xes"):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def _service(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _child_set(ep: dict[str, Any], type_name: str, endpoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entity set a navigation property's type names: same service first, standard endpoints first."""
    wanted = type_name.rsplit(".", 1)[-1].lower()
    found = [e for e in endpoints if e["name"].lower() == wanted and e["kind"] in ("standard", "read")]
    found.sort(key=lambda e: (_service(e["path"]) != _service(ep["path"]), e["kind"] != "standard", e["path"]))
    return found[0] if found else None


def _link_field(parent: dict[str, Any], child: dict[str, Any]) -> str | None:
    """The child's field holding the parent's key: the key's own name (``EntryID``), else the parent's singular
    name or a tail of it, bare or with ``ID``/``Id`` (``Account``, ``PurchaseOrderID``, ``InvoiceID``)."""
    names = {f["name"]: f["type"] for f in child["fields"]}
    key_type = next((f["type"] for f in parent["fields"] if f["name"] in parent["keys"]), None)
    candidates = []
    if len(parent["keys"]) == 1 and parent["keys"][0] != "ID":
        candidates.append(parent["keys"][0])
    words = re.findall(r"[A-Z][a-z0-9]*|[A-Z]+(?![a-z])", _singular(parent["name"]))
    for start in range(len(words)):
        tail = "".join(words[start:])
        candidates += [tail, f"{tail}ID", f"{tail}Id"]
    for name in candidates:
        if name in names and name not in child["keys"] and names[name] == key_type:
            return name
    return None


def _links(ep: dict[str, Any], endpoints: list[dict[str, Any]]) -> list[list[Any]]:
    parent = ep
    if ep["kind"] in ("sync", "bulk"):  # their rows are the standard entity's: link through its key
        name = ep["path"].rsplit("/", 1)[-1]
        parent = next((e for e in endpoints if e["kind"] == "standard" and e["path"].endswith("/" + name)), ep)
    out: list[list[Any]] = []
    for f in ep["fields"]:
        if f["type"].startswith("Edm.") or "." in f["type"]:  # scalars, and single (not collection) navigations
            continue
        child = _child_set(ep, f["type"], endpoints)
        if child is None:
            continue
        via = _LINK_OVERRIDES.get((parent["path"], f["name"])) or _link_field(parent, child)
        out.append([f["name"], child["path"], via])
    return out


def compact(reference: dict[str, Any]) -> str:
    """The registry text for a reference document."""
    endpoints = reference["endpoints"]
    lines = []
    for ep in sorted(endpoints, key=lambda e: e["path"]):
        fields = []
        for f in ep["fields"]:
            writable = _WRITABLE[tuple(sorted(f.get("writable", ["POST", "PUT"])))]
            row: list[Any] = [f["name"], f["type"], writable]
            if f.get("hidden"):
                row.append("hidden")
            if f.get("mandatory"):
                row.append("mandatory")
            if f.get("values"):
                row.append(f["values"])
            fields.append(row)
        entry: dict[str, Any] = {
            "name": ep["name"],
            "path": ep["path"],
            "kind": ep["kind"],
            "beta": ep["beta"],
            "division_scoped": ep["division_scoped"],
            "methods": ep["methods"],
            "keys": ep["keys"],
            "scope": ep["scope"],
            "doc": ep["doc"],
            "fields": fields,
        }
        links = _links(ep, endpoints)
        if links:
            entry["links"] = links
        lines.append(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
    return "[\n" + ",\n".join(lines) + "\n]\n"


def generate(source: Path = DEFAULT_SOURCE, target: Path = TARGET) -> Path:
    """Regenerate the registry file; returns its path."""
    reference = json.loads(source.read_text(encoding="utf-8"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(compact(reference), encoding="utf-8")
    return target


if __name__ == "__main__":
    print(generate())
