"""One entity set as a request sees it (endpoint, table, division, URLs, keys), and the REST dispatcher.

The rules live beside it: :mod:`.query` (the query engine), :mod:`.reads` and :mod:`.writes`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from ..exceptions import ODataError
from ..odata import literal, parse_typed_literal
from ..registry import Endpoint, Field
from . import reads, writes
from .catalog import catalog
from .exceptions import ApiError
from .responses import ApiResult
from .state import EmulatorState
from .store import Table

__all__ = ["ApiPath", "EntitySet", "RestApi"]

_KEY_PART = re.compile(r"^(?:(\w+)=)?(guid'[^']*'|'(?:[^']|'')*'|-?\d+L?)$")


@dataclass(frozen=True)
class ApiPath:
    """A parsed ``/api/v1/...`` path: the endpoint, the division in the URL, an entity key, a navigation property
    of that entity, ``/$count``."""

    endpoint: Endpoint
    division: int | None
    key: str | None
    count: bool
    nav: str | None = None


class EntitySet:
    """The endpoint, its table in the division, and the URLs its entities are known by."""

    def __init__(
        self,
        state: EmulatorState,
        ep: Endpoint,
        division: int,
        url_division: int | None,
        base: str,
        client_id: str,
    ) -> None:
        self.state = state
        self.ep = ep
        self.division = division
        self.url_division = url_division
        self.base = base
        self.client_id = client_id
        self.table: Table = state.store.table(catalog().table_path(ep), division)
        self.fields: dict[str, Field] = {f.name: f for f in ep.fields}
        prefix = "/api/v1/beta" if ep.beta else "/api/v1"
        self.collection_url = (
            f"{base}{prefix}/{url_division}/{ep.path}" if url_division is not None else f"{base}/api/v1/{ep.path}"
        )
        # [U] Rows of sync and bulk endpoints are known by their standard entity's URI (which can be fetched and
        # whose navigation links are served); the sync endpoint itself cannot be addressed by key.
        standard = catalog().get(self.table.path) if ep.kind in ("sync", "bulk") else None
        self.entity_ep = standard if standard is not None and standard.keys else ep
        entity_prefix = "/api/v1/beta" if self.entity_ep.beta else "/api/v1"
        self.entity_base = base + (f"{entity_prefix}/{division}/" if self.entity_ep.division_scoped else "/api/v1/")

    def sibling(self, ep: Endpoint) -> EntitySet:
        """The entity set of another endpoint, seen by the same request (for ``$expand``)."""
        return EntitySet(self.state, ep, self.division, self.url_division, self.base, self.client_id)

    # --- keys ----------------------------------------------------------------------------------------------

    def key_index(self, key_text: str) -> int:
        """The row addressed by ``(guid'..')``, ``(123)`` or ``(A=1,B='x')``; 400 when malformed, 404 when gone."""
        table = self.table
        if self.ep.kind != "standard" or not table.key:
            raise ApiError(400, "This resource cannot be addressed by key.")
        values: dict[str, Any] = {}
        for i, (name, text) in enumerate(split_key(key_text)):
            kname = name or (table.key[i] if i < len(table.key) else "")
            if kname not in table.key:
                raise ApiError(400, f"Bad Request - Error in query syntax: unknown key '{kname}'.")
            values[kname] = key_value(text)
        if set(values) != set(table.key):
            raise ApiError(400, "Bad Request - Error in query syntax: the key is incomplete.")
        found = table.index_of_key(tuple(values[k] for k in table.key))
        if found is None:
            raise ApiError(404, "Resource not found")
        return found

    def entity_uri(self, i: int) -> str:
        """``{base}/api/v1/{division}/crm/Accounts(guid'..')`` of row ``i`` (key literals by the SDK's codec)."""
        key = self.table.key
        parts = [_key_literal(self.table.value(i, k), self.table.fields[k].edm_type) for k in key]
        text = parts[0] if len(parts) == 1 else ",".join(f"{k}={lit}" for k, lit in zip(key, parts, strict=True))
        return f"{self.entity_base}{self.entity_ep.path}({text})"


def _key_literal(value: Any, edm: str) -> str:
    if edm == "Edm.Int64" and isinstance(value, str):
        return literal(int(value), edm)
    return literal(value, edm if edm in ("Edm.Guid", "Edm.String") else None)


def split_key(text: str) -> list[tuple[str | None, str]]:
    """``A=1,B='x,y'`` -> ``[("A", "1"), ("B", "'x,y'")]`` (names are None for positional keys)."""
    parts: list[tuple[str | None, str]] = []
    for piece in re.findall(r"(?:[^,']|'(?:[^']|'')*')+", text):
        m = _KEY_PART.match(piece.strip())
        if m is None:
            raise ApiError(400, f"Bad Request - Error in query syntax: invalid key '{text}'.")
        parts.append((m.group(1), m.group(2)))
    if not parts:
        raise ApiError(400, "Bad Request - Error in query syntax: empty key.")
    return parts


def key_value(text: str) -> Any:
    """A key literal in the store's wire form (Guid as lower-case text, numbers as int, strings unquoted)."""
    try:
        value, _ = parse_typed_literal(text)
    except ODataError:
        raise ApiError(400, f"Bad Request - Error in query syntax: invalid guid {text}.") from None
    return str(value) if isinstance(value, uuid.UUID) else value


class RestApi:
    """Answers one API call for an authenticated client."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(
        self,
        method: str,
        api: ApiPath,
        params: dict[str, str],
        body: bytes,
        headers: dict[str, str],
        client_id: str,
        base: str,
    ) -> ApiResult:
        ep = api.endpoint
        if method not in ep.methods:
            raise ApiError(405, "The requested resource does not support http method '" + method + "'.")
        division = api.division if api.division is not None else self.state.config.current_division
        if ep.path == "webhooks/WebhookSubscriptions" and method == "PUT":
            raise ApiError(405, "Updating a webhook subscription is not supported. Delete and create it again.")
        es = EntitySet(self.state, ep, division, api.division, base, client_id)
        with self.state.store.lock:
            if api.nav is not None:
                if method != "GET" or api.key is None:
                    raise ApiError(405, "The requested resource does not support http method '" + method + "'.")
                return reads.navigation(es, api.key, api.nav, params, counting=api.count)
            if method == "GET":
                if api.count:
                    return reads.count(es, params)
                if api.key is not None:
                    return reads.get_one(es, api.key, params)
                return reads.get_many(es, params)
            if api.count:
                raise ApiError(405, "The requested resource does not support http method '" + method + "'.")
            if method == "POST":
                if api.key is not None:
                    raise ApiError(400, "POST requests must address the collection, not an entity key.")
                return writes.create(es, body, prefer=headers.get("prefer", ""))
            if api.key is None:
                raise ApiError(400, f"{method} requests must address one entity by its key.")
            if method == "PUT":
                return writes.update(es, api.key, body)
            return writes.delete(es, api.key)
