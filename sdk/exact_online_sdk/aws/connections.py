"""Several Exact connections on one stack: their names, where each keeps its secrets, and how a process finds them.

A *connection* is one token chain: one Exact user of one app (an accounting firm has one per client company, a
group one per legal entity, ...). Each has its own two token slots, rescue secret and client-credentials secret; one
refresher function keeps all of them fresh, and a worker picks one by name.

- The connection named ``"default"`` is the stack of before (and of a single-connection deployment): its secrets
  come from ``EXACT_TOKEN_SECRET_A``/``_B``, ``EXACT_RESCUE_SECRET`` and ``EXACT_CLIENT_SECRET_ARN``.
- Every other connection's secrets are named by the stack from a prefix (``EXACT_CONNECTION_PREFIX``, the stack's
  ``ConnectionSecretPrefix`` output): ``<prefix><name>/token-a``, ``/token-b``, ``/rescue`` and ``/client``
  (:func:`connection_secret_names`).
- ``EXACT_CONNECTIONS`` lists them as JSON, ``{"acme": {}, "globex": {"base_url": "https://start.exactonline.be"}}``:
  an entry may name its ids (``a``, ``b``, ``rescue``, ``credentials``: the stack's ``ConnectionSlots`` output
  does, for workers) and its own ``base_url`` or ``client_id``; what it leaves out follows the naming rule.
- A worker sets ``EXACT_CONNECTION=<name>`` (and the map, or the prefix); without it, it reads the ``"default"``
  connection as before (:meth:`~exact_online_sdk.aws.slots.SecretsManagerTokenStorage.from_settings`).

Names are 1-32 lower-case letters, digits and hyphens, starting with a letter or digit: they end up in secret
names, CloudFormation ids, the ``Connection`` metric dimension and S3 partitions.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "DEFAULT_CONNECTION",
    "ConnectionConfig",
    "check_connection_name",
    "connection_config",
    "connection_configs",
    "connection_secret_names",
    "connection_settings",
]

DEFAULT_CONNECTION = "default"
"""The connection of a single-connection stack (the secrets it had before connections existed)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_ENTRY_KEYS = frozenset({"a", "b", "rescue", "credentials", "base_url", "client_id", "redirect_uri"})


def check_connection_name(name: str) -> str:
    """``name`` if it is a valid connection name, else ValueError saying what is allowed."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"connection name {name!r} must be 1-32 lower-case letters, digits or hyphens, starting with a letter or "
            "digit (it becomes part of secret names, metric dimensions and S3 paths)"
        )
    return name


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """Where one connection keeps its secrets (names or ARNs) and, when it differs, its Exact host or app id.

    ``rescue`` and ``credentials`` are None for a worker's view (it reads only the slots)."""

    name: str
    slot_a: str
    slot_b: str
    rescue: str | None = None
    credentials: str | None = None
    base_url: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None

    @property
    def slots(self) -> tuple[str, str]:
        return (self.slot_a, self.slot_b)


def connection_secret_names(prefix: str, name: str) -> ConnectionConfig:
    """The secret names the stack gives connection ``name`` under ``prefix`` (the stack's naming rule)."""
    check_connection_name(name)
    base = f"{prefix}{name}"
    return ConnectionConfig(
        name=name,
        slot_a=f"{base}/token-a",
        slot_b=f"{base}/token-b",
        rescue=f"{base}/rescue",
        credentials=f"{base}/client",
    )


def _legacy_default(s: Settings) -> ConnectionConfig | None:
    """The ``"default"`` connection from the single-connection variables, when they are set."""
    if s.token_secret_a and s.token_secret_b:
        slots = (s.token_secret_a, s.token_secret_b)
    elif s.token_secret:
        slots = (f"{s.token_secret}-a", f"{s.token_secret}-b")
    else:
        return None
    return ConnectionConfig(
        DEFAULT_CONNECTION, slots[0], slots[1], rescue=s.rescue_secret, credentials=s.client_secret_arn
    )


def _from_entry(name: str, entry: Mapping[str, str], prefix: str | None, s: Settings) -> ConnectionConfig:
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(
            f"EXACT_CONNECTIONS: connection {name!r} has unknown keys {unknown} (allowed: {sorted(_ENTRY_KEYS)})",
            variable="EXACT_CONNECTIONS",
        )
    # "default" keeps the secrets it had before connections existed; the others follow the stack's naming rule.
    if name == DEFAULT_CONNECTION:
        fallback = _legacy_default(s)
    else:
        fallback = connection_secret_names(prefix, name) if prefix is not None else None

    def pick(key: str, attribute: str) -> str | None:
        value = entry.get(key)
        if value:
            return value
        return getattr(fallback, attribute) if fallback is not None else None

    slot_a, slot_b = pick("a", "slot_a"), pick("b", "slot_b")
    if not slot_a or not slot_b:
        raise ConfigError(
            f"connection {name!r}: no token slots: give its 'a' and 'b' in EXACT_CONNECTIONS (the stack's "
            "ConnectionSlots output) or set EXACT_CONNECTION_PREFIX (the stack's ConnectionSecretPrefix output)",
            variable="EXACT_CONNECTIONS",
        )
    return ConnectionConfig(
        name=name,
        slot_a=slot_a,
        slot_b=slot_b,
        rescue=pick("rescue", "rescue"),
        credentials=pick("credentials", "credentials"),
        base_url=entry.get("base_url") or None,
        client_id=entry.get("client_id") or None,
        redirect_uri=entry.get("redirect_uri") or None,
    )


def connection_configs(settings: Settings | None = None) -> dict[str, ConnectionConfig]:
    """Every connection the settings describe, by name, in the order given (the refresher's view).

    ``EXACT_CONNECTIONS`` when set (``"default"`` in it falls back on the single-connection variables), else the
    single-connection variables as the one connection ``"default"``; empty when neither is set."""
    from ..auth._settings import settings_from

    s = settings_from(settings)
    if not s.connections:
        legacy = _legacy_default(s)
        if legacy is None:
            return {}
        name = s.connection or DEFAULT_CONNECTION
        return {name: dataclasses.replace(legacy, name=name)}
    configs: dict[str, ConnectionConfig] = {}
    for name, entry in s.connections.items():
        try:
            check_connection_name(name)
        except ValueError as exc:
            raise ConfigError(f"EXACT_CONNECTIONS: {exc}", variable="EXACT_CONNECTIONS") from None
        configs[name] = _from_entry(name, entry or {}, s.connection_prefix, s)
    return configs


def connection_config(settings: Settings | None = None, name: str | None = None) -> ConnectionConfig:
    """The connection ``name`` (default ``EXACT_CONNECTION``, else ``"default"``): a worker's view.

    Found in ``EXACT_CONNECTIONS``, else derived from ``EXACT_CONNECTION_PREFIX``, else (``"default"`` only) the
    single-connection variables. ConfigError names what is missing."""
    from ..auth._settings import settings_from

    s = settings_from(settings)
    wanted = name or s.connection or DEFAULT_CONNECTION
    try:
        check_connection_name(wanted)
    except ValueError as exc:
        raise ConfigError(str(exc), variable="EXACT_CONNECTION") from None
    if s.connections and wanted in s.connections:
        return _from_entry(wanted, s.connections[wanted] or {}, s.connection_prefix, s)
    legacy = _legacy_default(s)
    if legacy is not None and (wanted == DEFAULT_CONNECTION or not (s.connections or s.connection_prefix)):
        # The single-connection variables: the "default" connection, or a process set up for one connection only
        # (connection_settings' view of a named connection).
        return dataclasses.replace(legacy, name=wanted)
    if s.connection_prefix is not None and not s.connections and wanted != DEFAULT_CONNECTION:
        return connection_secret_names(s.connection_prefix, wanted)
    known = sorted(s.connections) if s.connections else []
    raise ConfigError(
        f"connection {wanted!r} is not configured"
        + (f" (EXACT_CONNECTIONS has {known})" if known else "")
        + ": set EXACT_CONNECTIONS to the stack's ConnectionSlots output, or EXACT_TOKEN_SECRET_A/_B for one "
        "connection",
        variable="EXACT_CONNECTION",
    )


def connection_settings(settings: Settings | None, connection: ConnectionConfig | str) -> Settings:
    """``settings`` as a single-connection process of ``connection`` sees them: its slots, rescue and credentials
    secrets as ``EXACT_TOKEN_SECRET_A``/``_B``, ``EXACT_RESCUE_SECRET`` and ``EXACT_CLIENT_SECRET_ARN``, its own host,
    app id and redirect URI where it has them (else the stack's), and no connection list. Everything built from
    :class:`~exact_online_sdk.config.Settings` (the refresher, the bootstrap, a worker) then serves that connection."""
    from .._core.request import normalize_base_url
    from ..auth._settings import settings_from

    s = settings_from(settings)
    config = connection if isinstance(connection, ConnectionConfig) else connection_config(s, connection)
    update: dict[str, object] = {
        "token_secret_a": config.slot_a,
        "token_secret_b": config.slot_b,
        "token_secret": None,
        "rescue_secret": config.rescue,
        "client_secret_arn": config.credentials,
        "connection": config.name,
        "connections": None,
        "connection_prefix": None,
    }
    if config.base_url:
        update.update(base_url=normalize_base_url(config.base_url), region=None)
    if config.client_id:
        update["client_id"] = config.client_id
    if config.redirect_uri:
        update["redirect_uri"] = config.redirect_uri
    return s.model_copy(update=update)
