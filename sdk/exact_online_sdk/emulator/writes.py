"""Writes: POST, PUT and DELETE of entities, the sync/Deleted bookkeeping, and the webhook events they raise."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

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
from .exceptions import ApiError
from .reads import render
from .responses import ApiResult, single
from .store import DELETED_ENTITY_TYPES, now_wire
from .webhooks import event_time

if TYPE_CHECKING:
    from .entities import EntitySet

__all__ = ["create", "delete", "update"]

_SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(400, "Error processing request stream. The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Error processing request stream. JSON object expected.")
    return data


def _coerce(es: EntitySet, data: dict[str, Any], *, for_post: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
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
        if not writable or f.is_navigation:
            if cfg.readonly_fields == "ignore" or f.is_navigation:
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
    return out


def create(es: EntitySet, raw: bytes, *, prefer: str) -> ApiResult:
    """POST: insert a row; answer the entity (fully only with ``Prefer: return=representation``)."""
    if es.ep.path == _SUBSCRIPTIONS:
        return _create_subscription(es, raw)
    values = _coerce(es, _body(raw), for_post=True)
    sent = list(values)
    table = es.table
    for k in table.key:
        f = table.fields[k]
        if values.get(k) is None:
            if f.edm_type == "Edm.Guid":
                values[k] = str(uuid.uuid4())
            elif f.edm_type.startswith("Edm.Int"):
                values[k] = table.n_total + 1
            else:
                raise ApiError(400, f"Mandatory: {k}")
        elif table.index_of_key(tuple(values.get(x) for x in table.key)) is not None:
            raise ApiError(400, "Duplicate key: the entity already exists.")
    now = now_wire(es.state.clock.now())
    for name, value in (
        ("Created", now),
        ("Modified", now),
        ("Creator", es.state.user_id),
        ("Modifier", es.state.user_id),
        ("Division", es.division),
    ):
        if name in table.fields and values.get(name) is None:
            values[name] = value
    i = table.insert(values)
    _notify(es, i, "Create")
    full = "return=representation" in prefer.replace(" ", "").lower()
    navs = [f.name for f in es.ep.fields if f.is_navigation]
    rendered = render(es, i, [f.name for f in es.ep.fields if not f.is_navigation], navs, set())
    if not full:
        # Without the header Exact fills only what it was given (plus the key).
        keep = {n for n in (*table.key, *sent) if n in es.fields}
        rendered = {k: (v if k in keep or k == "__metadata" or k in navs else None) for k, v in rendered.items()}
    return single(rendered, es.state.config.post_status)


def update(es: EntitySet, key: str, raw: bytes) -> ApiResult:
    """PUT: a partial update; 204 without a body."""
    i = es.key_index(key)
    values = _coerce(es, _body(raw), for_post=False)
    for k in es.table.key:
        if k in values and values[k] != es.table.value(i, k):
            raise ApiError(400, f"Property '{k}' is a key and cannot be changed.")
    values["Modified"] = now_wire(es.state.clock.now())
    values = {k: v for k, v in values.items() if k in es.table.fields}
    es.table.update(i, values)
    _notify(es, i, "Update")
    return ApiResult(204, content_type="")


def delete(es: EntitySet, key: str) -> ApiResult:
    """DELETE: remove the row and record it in sync/Deleted when Exact has an EntityType for it; 204."""
    i = es.key_index(key)
    table = es.table
    if es.ep.path == _SUBSCRIPTIONS and table.value(i, "ClientID") != es.client_id:
        raise ApiError(404, "Resource not found")
    entity_key = table.value(i, table.key[0]) if table.key else None
    _notify(es, i, "Delete")
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
    return ApiResult(204, content_type="")


# --- webhooks -------------------------------------------------------------------------------------------------


def _create_subscription(es: EntitySet, raw: bytes) -> ApiResult:
    values = _coerce(es, _body(raw), for_post=True)
    url = values.get("CallbackURL")
    topic = values.get("Topic")
    if not url or not topic:
        raise ApiError(400, "Mandatory: CallbackURL, Topic")
    if not re.match(r"^https?://", str(url)) or (
        es.state.config.webhook_require_https and not str(url).startswith("https://")
    ):
        raise ApiError(400, "CallbackURL must be an absolute HTTPS URL.")
    now = now_wire(es.state.clock.now())
    values.update(
        {
            "ID": str(uuid.uuid4()),
            "ClientID": es.client_id,
            "Created": now,
            "Creator": es.state.user_id,
            "CreatorFullName": "Emulator User",
            "Description": f"{topic} subscription",
            "Division": es.division,
        }
    )
    i = es.table.insert(values)
    es.state.webhooks.schedule_validation(values["ID"], str(url))
    return single(render(es, i, [f.name for f in es.ep.fields], [], set()), es.state.config.post_status)


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
        if not isinstance(value, str):
            raise TypeError("string expected")
        return value
    if t == "Edm.Binary":
        if not isinstance(value, str):
            raise TypeError("base64 text expected")
        return value
    return value
