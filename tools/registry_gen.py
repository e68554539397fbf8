"""Write the compact endpoint registry the installed package reads at run time.

Input: ``tools/reference/endpoints.json`` (Exact's REST reference facts, copied from ``../shared``). Output:
``sdk/exact_online_sdk/registry/endpoints.json``: one line per endpoint, fields as
``[name, edm_type, writable]`` where ``writable`` is ``"PP"`` (POST and PUT), ``"P"`` (POST only), ``"U"`` (PUT only)
or ``""`` (read-only). Called by ``tools/codegen.py``; reproducible byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT / "tools" / "reference" / "endpoints.json"
TARGET = ROOT / "sdk" / "exact_online_sdk" / "registry" / "endpoints.json"

_WRITABLE = {("POST", "PUT"): "PP", ("POST",): "P", ("PUT",): "U", (): ""}


def compact(reference: dict[str, Any]) -> str:
    """The registry text for a reference document."""
    lines = []
    for ep in sorted(reference["endpoints"], key=lambda e: e["path"]):
        fields = []
        for f in ep["fields"]:
            writable = _WRITABLE[tuple(sorted(f.get("writable", ["POST", "PUT"])))]
            row: list[Any] = [f["name"], f["type"], writable]
            if f.get("hidden"):
                row.append("hidden")
            fields.append(row)
        entry = {
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
