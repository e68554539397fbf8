"""The REST surface: every registry endpoint, its methods, keys, query options, writes and the sync API."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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
from ..registry import Endpoint, Field, registry
from .odata import FilterError, Predicate, compile_filter
from .state import EmulatorState
from .store import DELETED_ENTITY_TYPES, Table, now_wire, table_path_for
from .webhooks import event_time

__all__ = ["ApiError", "ApiResult", "RestApi", "parse_api_path"]

_SYNC_TABLES: frozenset[str] | None = None
_TS_BOUND = re.compile(r"\bTimestamp\s+(gt|ge)\s+(\d+)L?", re.IGNORECASE)
_KEY_PART = re.compile(r"^(?:(\w+)=)?(guid'[^']*'|'(?:[^']|'')*'|-?\d+L?)$")


class ApiError(Exception):
    """An error answer in Exact's JSON shape (or an empty body when ``message`` is None)."""

    def __init__(self, status: int, message: str | None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        if self.message is None:
            return b""
        return json.dumps({"error": {"code": "", "message": {"lang": "", "value": self.message}}}).encode()


@dataclass
class ApiResult:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    payload: Any = None  # the object behind ``body`` (for Atom rendering)


@dataclass(frozen=True)
class ApiPath:
    endpoint: Endpoint
    division: int | None
    key: str | None
    count: bool


def parse_api_path(rest: str) -> ApiPath:
    """``[beta/]{division}/crm/Accounts(guid'..')[/$count]`` (the part after ``/api/v1/``) -> ApiPath."""
    beta = rest.startswith("beta/")
    if beta:
        rest = rest[5:]
    first, _, remainder = rest.partition("/")
    division = None
    if first.isdigit():
        division, rest = int(first), remainder
    count = rest.endswith("/$count")
    if count:
        rest = rest[: -len("/$count")]
    key = None
    if rest.endswith(")") and "(" in rest:
        rest, _, key = rest[:-1].partition("(")
    reg = registry()
    ep = reg.get(rest) if "(" not in rest and "$" not in rest else None
    if ep is None or ep.path != rest or ep.beta != beta or ep.division_scoped != (division is not None):
        raise ApiError(404, "Resource not found")
    return ApiPath(ep, division, key, count)


def _sync_tables() -> frozenset[str]:
    global _SYNC_TABLES
    if _SYNC_TABLES is None:
        _SYNC_TABLES = frozenset(table_path_for(e) for e in registry() if e.kind == "sync")
    return _SYNC_TABLES


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class RestApi:
    """Answers one API call for an authenticated client."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # --- entry ---------------------------------------------------------------------------------------------

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
        ctx = _Ctx(self.state, ep, division, api.division, base, client_id)
        with self.state.store.lock:
            if method == "GET":
                if api.count:
                    return ctx.count(params)
                if api.key is not None:
                    return ctx.get_one(api.key, params)
                return ctx.get_many(params)
            if api.count:
                raise ApiError(405, "The requested resource does not support http method '" + method + "'.")
            if method == "POST":
                if api.key is not None:
                    raise ApiError(400, "POST requests must address the collection, not an entity key.")
                return ctx.create(body, prefer=headers.get("prefer", ""))
            if api.key is None:
                raise ApiError(400, f"{method} requests must address one entity by its key.")
            if method == "PUT":
                return ctx.update(api.key, body)
            return ctx.delete(api.key)


class _Ctx:
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
        self.table: Table = state.store.table(table_path_for(ep), division)
        self.fields: dict[str, Field] = {f.name: f for f in ep.fields}
        prefix = "/api/v1/beta" if ep.beta else "/api/v1"
        self.collection_url = (
            f"{base}{prefix}/{url_division}/{ep.path}" if url_division is not None else f"{base}/api/v1/{ep.path}"
        )
        self.entity_base = base + (f"{prefix}/{division}/" if ep.division_scoped else "/api/v1/")
        self.client_id = client_id

    # --- keys ----------------------------------------------------------------------------------------------

    def _key_index(self, key_text: str) -> int:
        table = self.table
        if self.ep.kind != "standard" or not table.key:
            raise ApiError(400, "This resource cannot be addressed by key.")
        parts = _split_key(key_text)
        values: dict[str, Any] = {}
        for i, (name, literal) in enumerate(parts):
            kname = name or (table.key[i] if i < len(table.key) else "")
            if kname not in table.key:
                raise ApiError(400, f"Bad Request - Error in query syntax: unknown key '{kname}'.")
            values[kname] = _key_literal(literal)
        if set(values) != set(table.key):
            raise ApiError(400, "Bad Request - Error in query syntax: the key is incomplete.")
        key = tuple(values[k] for k in table.key)
        found = table.index_of_key(key)
        if found is None:
            raise ApiError(404, "Resource not found")
        return found

    def _entity_uri(self, i: int) -> str:
        parts = []
        for k in self.table.key:
            v = self.table.value(i, k)
            f = self.table.fields[k]
            lit = (
                f"guid'{v}'"
                if f.edm_type == "Edm.Guid"
                else (f"'{v}'" if isinstance(v, str) and f.edm_type == "Edm.String" else str(v))
            )
            parts.append(lit if len(self.table.key) == 1 else f"{k}={lit}")
        return f"{self.entity_base}{self.table_path_of_ep()}({','.join(parts)})"

    def table_path_of_ep(self) -> str:
        return self.ep.path

    # --- reads ---------------------------------------------------------------------------------------------

    def _select(self, params: dict[str, str]) -> tuple[list[str], list[str]]:
        """(scalar field names, navigation names) to return, in the endpoint's field order."""
        text = params.get("$select", "").strip()
        if not text or text == "*":
            names = [f.name for f in self.ep.fields]
        else:
            names = [n.strip() for n in text.split(",") if n.strip()]
            for n in names:
                base = n.split("/", 1)[0]
                if base not in self.fields:
                    raise ApiError(400, f"No property '{base}' exists in type '{self.table.type_name}' at position 0.")
            names = list(dict.fromkeys(n.split("/", 1)[0] for n in names))
        scalars = [n for n in names if not self.fields[n].is_navigation]
        navs = [n for n in names if self.fields[n].is_navigation]
        return scalars, navs

    def _filter(self, params: dict[str, str]) -> tuple[Predicate | None, list[str]]:
        if "$filter" not in params:
            return None, []
        allowed = None
        if self.ep.kind == "sync":
            allowed = frozenset({"Timestamp", "EntityType"} if self.ep.path == "sync/Deleted" else {"Timestamp"})
        try:
            return compile_filter(params["$filter"], self.fields, allowed=allowed)
        except FilterError as exc:
            raise ApiError(400, str(exc)) from None

    def _check_rules(self, params: dict[str, str], used: list[str]) -> None:
        cfg = self.state.config
        ep = self.ep
        if ep.kind == "bulk" and "$select" not in params:
            raise ApiError(400, "Please add a $select statement to the query string.")
        if ep.path in cfg.require_select and "$select" not in params and params.get("$top") != "1":
            raise ApiError(400, "Please add a $select or a $top=1 statement to the query string.")
        if (
            cfg.mandatory_filtering
            and ep.kind in ("standard", "bulk")
            and self.table.path in _sync_tables()
            and not set(used) & self._mandatory_fields()
        ):
            fields = ",".join(sorted(self._mandatory_fields()))
            raise ApiError(
                400,
                "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a "
                f"$filter parameter with one of the following fields in the url:{fields}",
            )

    def _mandatory_fields(self) -> set[str]:
        out = set(self.table.key) | {"Modified", "Created"}
        out |= {f.name for f in self.ep.fields if f.edm_type == "Edm.Guid"}
        return out & set(self.fields)

    def _int_param(self, params: dict[str, str], name: str) -> int | None:
        if name not in params:
            return None
        text = params[name].strip()
        if not text.isdigit():
            raise ApiError(400, f"Invalid {name} value '{text}'. A non-negative integer is expected.")
        return int(text)

    def _matching(self, params: dict[str, str], pred: Predicate | None) -> Iterator[int]:
        """Matching row indices in this endpoint's order, after ``$skiptoken``."""
        table = self.table
        skiptoken = params.get("$skiptoken")
        if self.ep.kind == "sync":
            after = 0
            if skiptoken:
                try:
                    after = int(skiptoken.rstrip("Ll"))
                except ValueError:
                    raise ApiError(400, f"Invalid $skiptoken '{skiptoken}'.") from None
            ftext = params.get("$filter", "")
            low = f" {ftext.lower()} "
            if " or " not in low and " not " not in low and "not(" not in low:
                for op, value in _TS_BOUND.findall(ftext):
                    after = max(after, int(value) - (1 if op.lower() == "ge" else 0))
            source: Iterator[int] = table.by_timestamp(after)
        elif "$orderby" in params:
            source = iter(self._ordered(params["$orderby"], pred, skiptoken))
            pred = None
        else:
            start = 0
            if skiptoken:
                start = self._skip_index(skiptoken) + 1
            source = table.live_indices(start)
        if pred is None:
            yield from source
            return
        for i in source:
            if pred(_getter(table, i)):
                yield i

    def _skip_index(self, token: str) -> int:
        if token.startswith("guid'"):
            found = self.table.index_of_key((token[5:-1].lower(),))
        else:
            found = int(token) if token.isdigit() else None
        if found is None:
            raise ApiError(400, f"Invalid $skiptoken '{token}'.")
        return found

    def _ordered(self, orderby: str, pred: Predicate | None, skiptoken: str | None) -> list[int]:
        table = self.table
        rows = [i for i in table.live_indices() if pred is None or pred(_getter(table, i))]
        for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
            name, _, direction = part.partition(" ")
            if name not in self.fields or self.fields[name].is_navigation:
                raise ApiError(400, f"No property '{name}' exists in type '{table.type_name}' at position 0.")
            desc = direction.strip().lower() == "desc"
            rows.sort(key=_order_key(table, name), reverse=desc)
        if skiptoken:
            idx = self._skip_index(skiptoken)
            rows = rows[rows.index(idx) + 1 :] if idx in rows else []
        return rows

    def _render(self, i: int, scalars: list[str], navs: list[str], expand: set[str]) -> dict[str, Any]:
        table = self.table
        uri = self._entity_uri(i) if table.key else f"{self.collection_url}"
        out: dict[str, Any] = {"__metadata": {"uri": uri, "type": table.type_name}}
        out.update(table.row(i, scalars))
        for nav in navs:
            if nav in expand:
                out[nav] = {"results": self._expand(i, nav)}
            else:
                out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
        return out

    def _expand(self, i: int, nav: str) -> list[dict[str, Any]]:
        """Children of row ``i`` in the navigation collection ``nav`` (linked by the parent's key field)."""
        target = self.fields[nav].edm_type.rsplit(".", 1)[-1]
        service = self.table.path.split("/", 1)[0]
        child_ep = registry().get(f"{service}/{target}")
        if child_ep is None or len(self.table.key) != 1:
            return []
        link = self.table.key[0]
        if child_ep.field(link) is None:
            return []
        child = self.state.store.table(child_ep.path, self.division)
        mine = self.table.value(i, link)
        sub = _Ctx.__new__(_Ctx)
        sub.__dict__.update(self.__dict__)
        sub.ep, sub.table, sub.fields = child_ep, child, {f.name: f for f in child_ep.fields}
        scalars = [f.name for f in child_ep.fields if not f.is_navigation]
        return [sub._render(c, scalars, [], set()) for c in child.live_indices() if child.value(c, link) == mine]

    def get_many(self, params: dict[str, str]) -> ApiResult:
        scalars, navs = self._select(params)
        pred, used = self._filter(params)
        self._check_rules(params, used)
        expand = {e.strip() for e in params.get("$expand", "").split(",") if e.strip()}
        for e in expand:
            if e not in self.fields or not self.fields[e].is_navigation:
                raise ApiError(400, f"No property '{e}' exists in type '{self.table.type_name}' at position 0.")
        navs = list(dict.fromkeys([*navs, *(e for e in expand if "$select" in params)]))
        top = self._int_param(params, "$top")
        skip = self._int_param(params, "$skip") or 0
        page_size = self.ep.page_size
        limit = page_size if top is None else min(top, page_size)
        picked: list[int] = []
        more = False
        matches = self._matching(params, pred)
        for _ in range(skip):
            if next(matches, None) is None:
                break
        for i in matches:
            if len(picked) >= limit:
                more = True
                break
            picked.append(i)
        rows = [self._render(i, scalars, navs, expand) for i in picked]
        cfg = self.state.config
        if cfg.bare_array_top is not None and top == cfg.bare_array_top:
            payload: Any = {"d": rows}
            return ApiResult(200, _dumps(payload), payload=payload)
        d: dict[str, Any] = {"results": rows}
        if params.get("$inlinecount") == "allpages":
            d["__count"] = str(self._count_all(params, pred))
        remaining = None if top is None else top - len(picked)
        if more and picked and (remaining is None or remaining > 0):
            d["__next"] = self._next_url(params, picked[-1], remaining)
        payload = {"d": d}
        return ApiResult(200, _dumps(payload), payload=payload)

    def _count_all(self, params: dict[str, str], pred: Predicate | None) -> int:
        rest = {k: v for k, v in params.items() if k != "$skiptoken"}
        return sum(1 for _ in self._matching(rest, pred))

    def _next_url(self, params: dict[str, str], last: int, remaining: int | None) -> str:
        if self.ep.kind == "sync":
            token = f"{self.table.timestamp(last)}L"
        elif (
            "$orderby" not in params
            and len(self.table.key) == 1
            and self.table.fields[self.table.key[0]].edm_type == "Edm.Guid"
        ):
            token = f"guid'{self.table.value(last, self.table.key[0])}'"
        else:
            token = str(last)
        query = [(k, v) for k, v in params.items() if k not in ("$skiptoken", "$top", "$skip")]
        if remaining is not None:
            query.append(("$top", str(remaining)))
        query.append(("$skiptoken", token))
        text = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:*/$')}" for k, v in query)
        return f"{self.collection_url}?{text}"

    def get_one(self, key: str, params: dict[str, str]) -> ApiResult:
        scalars, navs = self._select(params)
        expand = {e.strip() for e in params.get("$expand", "").split(",") if e.strip()}
        i = self._key_index(key)
        payload = {"d": self._render(i, scalars, navs, expand)}
        return ApiResult(200, _dumps(payload), payload=payload)

    def count(self, params: dict[str, str]) -> ApiResult:
        pred, used = self._filter(params)
        self._check_rules({**params, "$select": "x"} if self.ep.kind == "bulk" else params, used)
        return ApiResult(200, str(self._count_all(params, pred)).encode(), "text/plain; charset=utf-8")

    # --- writes --------------------------------------------------------------------------------------------

    def _body(self, raw: bytes) -> dict[str, Any]:
        try:
            data = loads(raw) if raw.strip() else None
        except ValueError:
            raise ApiError(400, "Error processing request stream. The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Error processing request stream. JSON object expected.")
        return data

    def _coerce(self, data: dict[str, Any], *, for_post: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cfg = self.state.config
        for name, value in data.items():
            f = self.fields.get(name)
            if f is None or name == "__metadata":
                if name == "__metadata":
                    continue
                raise ApiError(
                    400,
                    f"Error processing request stream. The property name '{name}' specified for type "
                    f"'{self.table.type_name}' is not valid.",
                )
            writable = f.writable_on_post if for_post else f.writable_on_put
            if not writable or f.is_navigation:
                if cfg.readonly_fields == "ignore" or f.is_navigation:
                    continue
                raise ApiError(400, f"Error processing request stream. Property '{name}' is read-only.")
            try:
                out[name] = _to_wire(f, value)
            except (EdmValueError, ValueError, TypeError):
                raise ApiError(
                    400,
                    f"Error processing request stream. Cannot convert a value to target type '{f.edm_type}' "
                    f"for property '{name}'.",
                ) from None
        return out

    def create(self, raw: bytes, *, prefer: str) -> ApiResult:
        if self.ep.path == "webhooks/WebhookSubscriptions":
            return self._create_subscription(raw, prefer)
        values = self._coerce(self._body(raw), for_post=True)
        sent = list(values)
        table = self.table
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
        now = now_wire(self.state.clock.now())
        for name, value in (
            ("Created", now),
            ("Modified", now),
            ("Creator", self.state.user_id),
            ("Modifier", self.state.user_id),
            ("Division", self.division),
        ):
            if name in table.fields and values.get(name) is None:
                values[name] = value
        i = table.insert(values)
        self._notify(i, "Create")
        if "return=representation" in prefer.replace(" ", "").lower():
            scalars = [f.name for f in self.ep.fields if not f.is_navigation]
        else:
            # Without the header Exact fills only what it was given (plus the key).
            scalars = [n for n in (*table.key, *sent) if n in self.fields]
        navs = [f.name for f in self.ep.fields if f.is_navigation]
        rendered = self._render(i, [f.name for f in self.ep.fields if not f.is_navigation], navs, set())
        if "return=representation" not in prefer.replace(" ", "").lower():
            keep = set(scalars)
            rendered = {k: (v if k in keep or k == "__metadata" or k in navs else None) for k, v in rendered.items()}
        payload = {"d": rendered}
        return ApiResult(self.state.config.post_status, _dumps(payload), payload=payload)

    def update(self, key: str, raw: bytes) -> ApiResult:
        i = self._key_index(key)
        values = self._coerce(self._body(raw), for_post=False)
        for k in self.table.key:
            if k in values and values[k] != self.table.value(i, k):
                raise ApiError(400, f"Property '{k}' is a key and cannot be changed.")
        values["Modified"] = now_wire(self.state.clock.now())
        values = {k: v for k, v in values.items() if k in self.table.fields}
        self.table.update(i, values)
        self._notify(i, "Update")
        return ApiResult(204, content_type="")

    def delete(self, key: str) -> ApiResult:
        i = self._key_index(key)
        table = self.table
        if self.ep.path == "webhooks/WebhookSubscriptions" and table.value(i, "ClientID") != self.client_id:
            raise ApiError(404, "Resource not found")
        entity_key = table.value(i, table.key[0]) if table.key else None
        self._notify(i, "Delete")
        table.delete(i)
        code = DELETED_ENTITY_TYPES.get(table.path)
        if code is not None:
            deleted = self.state.store.table("sync/Deleted", self.division)
            deleted.insert(
                {
                    "ID": str(uuid.uuid4()),
                    "DeletedBy": self.state.user_id,
                    "DeletedDate": now_wire(self.state.clock.now()),
                    "Division": self.division,
                    "EntityKey": entity_key,
                    "EntityType": code,
                }
            )
        return ApiResult(204, content_type="")

    # --- webhooks ------------------------------------------------------------------------------------------

    def _create_subscription(self, raw: bytes, prefer: str) -> ApiResult:
        values = self._coerce(self._body(raw), for_post=True)
        url = values.get("CallbackURL")
        topic = values.get("Topic")
        if not url or not topic:
            raise ApiError(400, "Mandatory: CallbackURL, Topic")
        if not re.match(r"^https?://", str(url)) or (
            self.state.config.webhook_require_https and not str(url).startswith("https://")
        ):
            raise ApiError(400, "CallbackURL must be an absolute HTTPS URL.")
        now = now_wire(self.state.clock.now())
        values.update(
            {
                "ID": str(uuid.uuid4()),
                "ClientID": self.client_id,
                "Created": now,
                "Creator": self.state.user_id,
                "CreatorFullName": "Emulator User",
                "Description": f"{topic} subscription",
                "Division": self.division,
            }
        )
        i = self.table.insert(values)
        self.state.webhooks.schedule_validation(values["ID"], str(url))
        payload = {"d": self._render(i, [f.name for f in self.ep.fields], [], set())}
        return ApiResult(self.state.config.post_status, _dumps(payload), payload=payload)

    def _notify(self, i: int, action: str) -> None:
        topic = self.table.entity_name
        if not self.table.key or self.table.path == "webhooks/WebhookSubscriptions":
            return
        subs = self.state.store.table("webhooks/WebhookSubscriptions", self.division)
        key = self.table.value(i, self.table.key[0])
        for s in subs.live_indices():
            sid = subs.value(s, "ID")
            if subs.value(s, "Topic") != topic or sid not in self.state.webhooks.validated:
                continue
            content = {
                "Topic": topic,
                "ClientId": subs.value(s, "ClientID"),
                "Division": self.division,
                "Action": action,
                "Key": key,
                "ExactOnlineEndpoint": self._entity_uri(i),
                "EventCreatedOn": event_time(self.state.clock.now()),
            }
            self.state.webhooks.deliver(sid, subs.value(s, "CallbackURL"), content)


def _split_key(text: str) -> list[tuple[str | None, str]]:
    parts: list[tuple[str | None, str]] = []
    for piece in re.findall(r"(?:[^,']|'(?:[^']|'')*')+", text):
        m = _KEY_PART.match(piece.strip())
        if m is None:
            raise ApiError(400, f"Bad Request - Error in query syntax: invalid key '{text}'.")
        parts.append((m.group(1), m.group(2)))
    if not parts:
        raise ApiError(400, "Bad Request - Error in query syntax: empty key.")
    return parts


def _key_literal(text: str) -> Any:
    if text.startswith("guid'"):
        try:
            return str(uuid.UUID(text[5:-1]))
        except ValueError:
            raise ApiError(400, f"Bad Request - Error in query syntax: invalid guid {text}.") from None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return int(text.rstrip("L"))


def _getter(table: Table, i: int) -> Callable[[str], Any]:
    return lambda name: table.value(i, name)


def _order_key(table: Table, name: str) -> Callable[[int], tuple[int, Any]]:
    return lambda i: _sort_key(table.value(i, name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, str) and value.startswith("/Date("):
        return (1, int(value[6:-2]))
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)


def _to_wire(f: Field, value: Any) -> Any:
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
