"""Routing: the URL table of the emulator and the parsing of ``/api/v1/...`` paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.routing import Route

from .catalog import catalog
from .entities import ApiPath
from .exceptions import ApiError
from .metadata import services

if TYPE_CHECKING:
    from .handlers import Handlers

__all__ = ["ServicePath", "parse_api_path", "routes"]

API_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "MERGE"]
# crm/Accounts(guid'..') and crm/Accounts(guid'..')/BankAccounts: the key may hold quoted ')' and '/'
_ENTITY = re.compile(r"([^()]+)\(((?:[^()']|'(?:[^']|'')*')*)\)(?:/([A-Za-z_][A-Za-z0-9_]*))?")


def routes(h: Handlers) -> list[Route]:
    """Exact's OAuth and REST surface, then the emulator's control API under ``/_emulator/``."""
    return [
        Route("/api/oauth2/auth", h.oauth.authorize, methods=["GET", "POST"]),
        Route("/api/oauth2/token", h.oauth.token, methods=["POST"]),
        Route("/api/v1/{rest:path}", h.api.handle, methods=API_METHODS),
        Route("/_emulator/health", h.control.health),
        Route("/_emulator/clock", h.control.clock),
        Route("/_emulator/clock/advance", h.control.advance, methods=["POST"]),
        Route("/_emulator/counters", h.control.counters),
        Route("/_emulator/requests", h.control.requests, methods=["GET", "DELETE"]),
        Route("/_emulator/faults", h.control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/tokens", h.control.tokens, methods=["POST"]),
        Route("/_emulator/tokens/expire", h.control.expire, methods=["POST"]),
        Route("/_emulator/authorize", h.control.authorize, methods=["POST"]),
        Route("/_emulator/webhooks", h.control.webhooks),
    ]


@dataclass(frozen=True)
class ServicePath:
    """``.../{service}/$metadata`` (``metadata``) or ``.../{service}/`` (the service document)."""

    service: str
    beta: bool
    division: int | None
    metadata: bool


def parse_api_path(rest: str) -> ApiPath | ServicePath:
    """``[beta/]{division}/crm/Accounts(guid'..')[/Nav][/$count]``, ``.../crm/$metadata`` or ``.../crm/`` (the
    part after ``/api/v1/``) -> the endpoint or service it names; 404 otherwise."""
    beta = rest.startswith("beta/")
    if beta:
        rest = rest[5:]
    first, _, remainder = rest.partition("/")
    division = None
    if first.isdigit():
        division, rest = int(first), remainder
    service = _service(rest, beta, division)
    if service is not None:
        return service
    count = rest.endswith("/$count")
    if count:
        rest = rest[: -len("/$count")]
    key = nav = None
    m = _ENTITY.fullmatch(rest)
    if m is not None:
        rest, key, nav = m.group(1), m.group(2), m.group(3)
    ep = catalog().get(rest) if "(" not in rest and "$" not in rest else None
    if ep is None or ep.beta != beta or ep.division_scoped != (division is not None):
        raise ApiError(404, "Resource not found")
    return ApiPath(ep, division, key, count, nav)


def _service(rest: str, beta: bool, division: int | None) -> ServicePath | None:
    metadata = rest.endswith("/$metadata")
    name = rest[: -len("/$metadata")] if metadata else rest.rstrip("/")
    scoped = services().get((name, beta))
    if scoped is None or (not metadata and catalog().get(name) is not None) or scoped != (division is not None):
        return None
    return ServicePath(name, beta, division, metadata)
