"""Writes: POST (with nested lines), PUT and DELETE, the values Exact computes, the sync/Deleted bookkeeping and
the webhook events the changes raise.

A POST is checked whole before anything is stored: unknown properties, types (a number for an ``Edm.String`` is
stored as text, ``"false"`` is a boolean, as Exact accepts them), documented value domains, POST-mandatory fields
(:mod:`.supplement`), and the same for every nested line. Read-only properties are ignored silently, as Exact does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..edm import (
    EdmValueError,
    loads,
    parse_boolean,
    parse_datetime,
    parse_decimal,
    parse_guid,
    parse_int,
    to_wire_datetime,
)
from ..registry import Field
from .catalog import Relation, catalog
from .exceptions import ApiError
from .oauth import safe_default_redirect
from .query import Shape
from .reads import render
from .responses import ApiResult, single
from .seed import companions, labels_of
from .store import DELETED_ENTITY_TYPES, Table, now_wire
from .supplement import mandatory_fields
from .webhooks import event_time

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = ["create", "delete", "to_wire", "update"]

_SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"
_USER_FULL_NAME = "Emulator User"


@dataclass
class _Plan:
    """One entity to insert, checked: its values, and its nested lines per relation."""

    es: EntitySet
    values: dict[str, Any]
    sent: list[str]
    lines: list[tuple[Relation, list[_Plan]]] = field(default_factory=list)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(400, "Error processing request stream. The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Error processing request stream. JSON object expected.")
    return data


def _coerce(es: EntitySet, data: dict[str, Any], *, for_post: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(scalar values in wire form, navigation values) of a request body; read-only properties dropped."""
    out: dict[str, Any] = {}
    navs: dict[str, Any] = {}
    cfg = es.state.config
    for name, value in data.items():
        if name == "__metadata":
            continue
        f = es.fields.get(name)
        if f is None:
            raise ApiError(
                400,
                f"Error processing request stream. The property name '{name}' specified for type "
                f"'{es.table.type_name}' is not valid.",
            )
        writable = f.writable_on_post if for_post else f.writable_on_put
        if f.is_navigation:
            if writable and for_post:
                navs[name] = value
            continue
        if not writable:
            if cfg.readonly_fields == "ignore":
                continue
            raise ApiError(400, f"Error processing request stream. Property '{name}' is read-only.")
        try:
            out[name] = to_wire(f, value)
        except (EdmValueError, ValueError, TypeError):
            raise ApiError(
                400,
                f"Error processing request stream. Cannot convert a value to target type '{f.edm_type}' "
                f"for property '{name}'.",
            ) from None
        if cfg.validate_values and f.values and out[name] is not None and str(out[name]) not in f.codes:
            raise ApiError(
                400, f"Invalid value '{out[name]}' for property '{name}'. Valid values: {', '.join(f.codes)}."
            )
    return out, navs


def _plan(es: EntitySet, data: dict[str, Any], *, linked_by: str | None = None) -> _Plan:
    values, navs = _coerce(es, data, for_post=True)
    for name in mandatory_fields(es.ep, es.state.config.mandatory_fields):
        if name != linked_by and _blank(values.get(name)):
            raise ApiError(400, f"Mandatory: {name}")
    table = es.table
    keyed = bool(table.key) and all(values.get(k) is not None for k in table.key)
    if keyed and table.index_of_key(tuple(values[k] for k in table.key)) is not None:
        raise ApiError(400, "Duplicate key: the entity already exists.")
    plan = _Plan(es, values, list(values))
    cat = catalog()
    for name, value in navs.items():
        relation = cat.relation(table.path, name)
        target = cat.get(relation.link.target) if relation is not None else None
        if relation is None or target is None:
            continue  # [U] a navigation the reference does not describe: ignored, like a read-only property
        items = value.get("results") if isinstance(value, dict) else value
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ApiError(
                400, f"Error processing request stream. A collection of entities is expected for property '{name}'."
            )
        child = es.sibling(target)
        plan.lines.append((relation, [_plan(child, item, linked_by=relation.column) for item in items]))
    return plan


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def create(es: EntitySet, raw: bytes, *, prefer: str) -> ApiResult:
    """POST: insert the entity and its nested lines; answer the entity (fully only with
    ``Prefer: return=representation``: without it Exact fills only what it was given, plus the key)."""
    if es.ep.path == _SUBSCRIPTIONS:
        return _create_subscription(es, raw)
    plan = _plan(es, _body(raw))
    i = _insert(plan, parent_key=None, column=None, position=0)
    everything = Shape(
        [f.name for f in es.ep.fields if not f.is_navigation], [f.name for f in es.ep.fields if f.is_navigation]
    )
    rendered = render(es, i, everything)
    if "return=representation" not in prefer.replace(" ", "").lower():
        keep = {n for n in (*es.table.key, *plan.sent) if n in es.fields}
        skip = {"__metadata", *everything.navs}
        rendered = {k: (v if k in keep or k in skip else None) for k, v in rendered.items()}
    return single(rendered, es.state.config.post_status)


def _insert(plan: _Plan, *, parent_key: Any, column: str | None, position: int) -> int:
    es, values = plan.es, dict(plan.values)
    table = es.table
    if column is not None:
        values[column] = parent_key
    for k in table.key:
        if values.get(k) is None:
            f = table.fields[k]
            if f.edm_type == "Edm.Guid":
                values[k] = str(uuid.uuid4())
            elif f.edm_type.startswith("Edm.Int"):
                values[k] = table.n_total + 1
            else:
                raise ApiError(400, f"Mandatory: {k}")
    if "LineNumber" in table.fields and values.get("LineNumber") is None and column is not None:
        values["LineNumber"] = position + 1
    now = now_wire(es.state.clock.now())
    defaults = {
        "Created": now,
        "Modified": now,
        "Creator": es.state.user_id,
        "Modifier": es.state.user_id,
        "CreatorFullName": _USER_FULL_NAME,
        "ModifierFullName": _USER_FULL_NAME,
        "Division": es.division,
    }
    for name, value in defaults.items():
        if name in table.fields and values.get(name) is None:
            values[name] = value
    for name, f in table.fields.items():
        # A read-only field with a documented domain starts at its first code (an entry is "Open").
        if f.values and f.read_only and values.get(name) is None and name not in table.key:
            values[name] = _first_code(f)
    if table.path == "crm/Accounts" and _blank(values.get("Code")):
        values["Code"] = _next_account_code(table)
    values.update(_computed(table, values))
    i = table.insert(values)
    _notify(es, i, "Create")
    key = values[table.key[0]] if len(table.key) == 1 else None
    for relation, plans in plan.lines:
        for n, line in enumerate(plans):
            _insert(line, parent_key=key, column=relation.column, position=n)
    return i


def _first_code(f: Field) -> Any:
    code = f.codes[0]
    return int(code) if f.edm_type in ("Edm.Int16", "Edm.Int32", "Edm.Byte") else code


def _next_account_code(table: Table) -> str:
    # "When a new account is created the value of the highest used code is incremented by 1" (basvanbeek.nl tips).
    codes = [table.value(i, "Code") for i in table.live_indices()]
    numbers = [int(c) for c in codes if isinstance(c, str) and c.strip().isdigit()]
    return f"{max(numbers, default=0) + 1:>18}"


def _computed(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """What Exact fills in itself: names of referenced rows, a contact's full name, amounts in the division's
    currency (``AmountDC = AmountFC * Rate``)."""
    out: dict[str, Any] = {}
    store = table.store
    for name, (ref, target, source) in companions(table).items():
        key = row.get(ref)
        if key is None:
            out[name] = None
            continue
        other = store.table(target, table.division)
        j = other.index_of_key((key,))
        out[name] = None if j is None else other.value(j, source)
    for name, (code_field, labels) in labels_of(table).items():
        code = row.get(code_field)
        out[name] = None if code is None else labels.get(str(code))
    fields = table.fields
    if "FullName" in fields and fields["FullName"].read_only and "LastName" in fields:
        parts = (row.get("FirstName"), row.get("MiddleName"), row.get("LastName"))
        out["FullName"] = " ".join(str(p).strip() for p in parts if p and str(p).strip()) or None
    given = row.get("Rate")
    rate = float(given) if isinstance(given, int | float) and given else 1.0
    for name, f in fields.items():
        fc = row.get(name[:-2] + "FC")
        if name.endswith("DC") and f.read_only and f.edm_type == "Edm.Double" and isinstance(fc, int | float):
            out[name] = round(float(fc) * rate, 2)
    return out


def update(es: EntitySet, key: str, raw: bytes) -> ApiResult:
    """PUT: a partial update; 204 without a body."""
    i = es.key_index(key)
    values, _ = _coerce(es, _body(raw), for_post=False)
    table = es.table
    for k in table.key:
        if k in values and values[k] != table.value(i, k):
            raise ApiError(400, f"Property '{k}' is a key and cannot be changed.")
    values["Modified"] = now_wire(es.state.clock.now())
    if "ModifierFullName" in table.fields:
        values["ModifierFullName"] = _USER_FULL_NAME
    values = {k: v for k, v in values.items() if k in table.fields}
    merged = {**table.row(i, list(table.fields)), **values}
    values.update(_computed(table, merged))
    table.update(i, values)
    _notify(es, i, "Update")
    return ApiResult(204, content_type="")


def delete(es: EntitySet, key: str) -> ApiResult:
    """DELETE: remove the row (a header with its lines) and record it in sync/Deleted when Exact has an
    EntityType for it; 204."""
    i = es.key_index(key)
    table = es.table
    if es.ep.path == _SUBSCRIPTIONS and table.value(i, "ClientID") != es.client_id:
        raise ApiError(404, "Resource not found")
    _notify(es, i, "Delete")
    _remove(es, table, i)
    return ApiResult(204, content_type="")


def _remove(es: EntitySet, table: Table, i: int) -> None:
    entity_key = table.value(i, table.key[0]) if table.key else None
    if len(table.key) == 1:
        for relation in catalog().children_of(table.path):
            if relation.child.endswith("Lines"):  # an entry's lines go with it
                lines = es.state.store.table(relation.child, table.division)
                for j in lines.children(relation.column, entity_key):
                    _remove(es, lines, j)
    table.delete(i)
    code = DELETED_ENTITY_TYPES.get(table.path)
    if code is not None:
        deleted = es.state.store.table("sync/Deleted", es.division)
        deleted.insert(
            {
                "ID": str(uuid.uuid4()),
                "DeletedBy": es.state.user_id,
                "DeletedDate": now_wire(es.state.clock.now()),
                "Division": es.division,
                "EntityKey": entity_key,
                "EntityType": code,
            }
        )


# --- webhooks -------------------------------------------------------------------------------------------------


def _create_subscription(es: EntitySet, raw: bytes) -> ApiResult:
    plan = _plan(es, _body(raw))
    values = plan.values
    url = str(values["CallbackURL"])
    cfg = es.state.config
    if not re.match(r"^https?://", url) or (cfg.webhook_require_https and not url.startswith("https://")):
        raise ApiError(400, "CallbackURL must be an absolute HTTPS URL.")
    host = (urlsplit(url).hostname or "").lower()
    allowed = {(urlsplit(u).hostname or "").lower() for u in cfg.redirect_uris} | {h.lower() for h in cfg.webhook_hosts}
    if host not in allowed and not safe_default_redirect(url):
        # FACTS §5 [O]: the callback shares the domain of the app's redirect URL. Besides those, only loopback
        # and reserved example names: the emulator cannot be used to POST into the network it runs in.
        raise ApiError(400, "CallbackURL must be on the domain of the app's redirect URL.")
    now = now_wire(es.state.clock.now())
    values.update(
        {
            "ID": str(uuid.uuid4()),
            "ClientID": es.client_id,
            "Created": now,
            "Creator": es.state.user_id,
            "CreatorFullName": _USER_FULL_NAME,
            "Description": f"{values['Topic']} subscription",
            "Division": es.division,
        }
    )
    i = es.table.insert(values)
    es.state.webhooks.schedule_validation(values["ID"], url)
    shape = Shape([f.name for f in es.ep.fields], [])
    return single(render(es, i, shape), cfg.post_status)


def _notify(es: EntitySet, i: int, action: str) -> None:
    table = es.table
    if not table.key or table.path == _SUBSCRIPTIONS:
        return
    topic = table.entity_name
    subs = es.state.store.table(_SUBSCRIPTIONS, es.division)
    key = table.value(i, table.key[0])
    for s in subs.live_indices():
        sid = subs.value(s, "ID")
        if subs.value(s, "Topic") != topic or sid not in es.state.webhooks.validated:
            continue
        content = {
            "Topic": topic,
            "ClientId": subs.value(s, "ClientID"),
            "Division": es.division,
            "Action": action,
            "Key": key,
            "ExactOnlineEndpoint": es.entity_uri(i),
            "EventCreatedOn": event_time(es.state.clock.now()),
        }
        es.state.webhooks.deliver(sid, subs.value(s, "CallbackURL"), content)


# --- values ---------------------------------------------------------------------------------------------------


def to_wire(f: Field, value: Any) -> Any:
    """A JSON request value -> the emulator's stored wire form for the field's Edm type."""
    if value is None:
        return None
    t = f.edm_type
    if t == "Edm.Guid":
        return str(parse_guid(value))
    if t == "Edm.DateTime":
        when = parse_datetime(value)
        assert when is not None
        return to_wire_datetime(when)
    if t == "Edm.Int64":
        return str(parse_int(value, t))
    if t in ("Edm.Int32", "Edm.Int16", "Edm.Byte"):
        return parse_int(value, t)
    if t == "Edm.Double":
        dec = parse_decimal(value)
        return float(dec) if dec is not None else None
    if t == "Edm.Boolean":
        return parse_boolean(value)
    if t == "Edm.String":
        # [O] Exact stores a number sent for a text field as its text (ossobv sends PaymentConditionSales: 15).
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise TypeError("string expected")
        return value
    if t == "Edm.Binary":
        if not isinstance(value, str):
            raise TypeError("base64 text expected")
        return value
    return value
