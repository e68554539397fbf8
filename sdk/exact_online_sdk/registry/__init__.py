"""The endpoint registry: every Exact REST endpoint with its methods, keys, fields and Edm types, the documented
value domains and POST-mandatory flags of its fields, and its navigation collections (child set and link field).

Generated from Exact's reference by ``tools/codegen.py`` (``tools/registry_gen.py``) into ``endpoints.json`` beside
this module, so the installed package never needs the reference at run time. Loaded lazily, once, on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["Endpoint", "Field", "Link", "Registry", "registry"]

EndpointKind = Literal["standard", "read", "sync", "bulk"]


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an endpoint's entity."""

    name: str
    edm_type: str
    writable_on_post: bool
    writable_on_put: bool
    hidden: bool = False
    mandatory: bool = False
    """The reference calls the field mandatory on POST."""
    values: tuple[tuple[str, str], ...] = ()
    """The documented value domain as (code, label) pairs, codes as text (``("D", "Debit")``, ``("20", "Open")``);
    empty when the reference documents none."""

    @property
    def is_navigation(self) -> bool:
        """True for a navigation collection (its type names another entity set, not an Edm scalar)."""
        return not self.edm_type.startswith("Edm.")

    @property
    def read_only(self) -> bool:
        """True when neither POST nor PUT accepts this field."""
        return not (self.writable_on_post or self.writable_on_put)

    @property
    def codes(self) -> tuple[str, ...]:
        """The documented codes of :attr:`values` (empty when the domain is undocumented)."""
        return tuple(code for code, _ in self.values)


@dataclass(frozen=True, slots=True)
class Link:
    """A navigation collection: ``SalesEntries.SalesEntryLines`` holds the rows of ``salesentry/SalesEntryLines``
    whose ``EntryID`` (the link field) is the entry's key. ``via`` is None when the reference does not show it."""

    name: str
    target: str
    via: str | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint (entity set) of Exact Online."""

    name: str
    path: str
    kind: EndpointKind
    beta: bool
    division_scoped: bool
    methods: tuple[str, ...]
    keys: tuple[str, ...]
    scope: str
    doc: str
    fields: tuple[Field, ...]
    links: tuple[Link, ...] = ()
    _by_name: dict[str, Field] = field(default_factory=dict, repr=False, compare=False)

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (Exact's spelling), or None."""
        if not self._by_name:
            self._by_name.update({f.name: f for f in self.fields})
        return self._by_name.get(name)

    def link(self, name: str) -> Link | None:
        """The navigation collection called ``name``, when its entity set is known."""
        return next((link for link in self.links if link.name == name), None)

    def url_path(self, division: int | None) -> str:
        """The path below the host: ``/api/v1/{division}/...``, ``/api/v1/beta/{division}/...`` or no division."""
        if not self.division_scoped:
            return f"/api/v1/{self.path}"
        if division is None:
            raise ValueError(f"{self.path} needs a division")
        prefix = "/api/v1/beta" if self.beta else "/api/v1"
        return f"{prefix}/{division}/{self.path}"

    @property
    def page_size(self) -> int:
        """Rows per page Exact returns: 1000 on sync and bulk endpoints, 60 elsewhere."""
        return 1000 if self.kind in ("sync", "bulk") else 60


class Registry:
    """All endpoints, looked up by their path (case-sensitive, as Exact's paths are)."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)
        self._by_path = {e.path: e for e in endpoints}

    def __len__(self) -> int:
        return len(self.endpoints)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)

    def get(self, path: str) -> Endpoint | None:
        """The endpoint for ``crm/Accounts``, ``crm/Accounts(guid'..')`` or ``crm/Accounts/$count``, or None."""
        base = path.split("?", 1)[0].strip("/")
        if "(" in base:
            base = base.split("(", 1)[0]
        if base.endswith("/$count"):
            base = base[: -len("/$count")]
        return self._by_path.get(base)

    def __getitem__(self, path: str) -> Endpoint:
        found = self.get(path)
        if found is None:
            raise KeyError(f"unknown Exact endpoint: {path!r}")
        return found


_WRITABLE = {"PP": (True, True), "P": (True, False), "U": (False, True), "": (False, False)}


def _field(row: list[Any]) -> Field:
    """``[name, type, writable, *extras]``: extras are the flags "hidden"/"mandatory" and a dict of values."""
    extras = row[3:]
    values = next((tuple(e.items()) for e in extras if isinstance(e, dict)), ())
    return Field(
        row[0], row[1], *_WRITABLE[row[2]], hidden="hidden" in extras, mandatory="mandatory" in extras, values=values
    )


@cache
def registry() -> Registry:
    """The registry shipped with the package (parsed once per process)."""
    raw = resources.files(__package__).joinpath("endpoints.json").read_text(encoding="utf-8")
    endpoints = []
    for item in json.loads(raw):
        fields = tuple(_field(row) for row in item["fields"])
        endpoints.append(
            Endpoint(
                name=item["name"],
                path=item["path"],
                kind=item["kind"],
                beta=item["beta"],
                division_scoped=item["division_scoped"],
                methods=tuple(item["methods"]),
                keys=tuple(item["keys"]),
                scope=item["scope"],
                doc=item["doc"],
                fields=fields,
                links=tuple(Link(*link) for link in item.get("links", ())),
            )
        )
    return Registry(endpoints)
