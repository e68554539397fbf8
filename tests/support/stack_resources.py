"""What the CDK stack creates in AWS, made in moto for a test: the coordination table and a connection's secrets.

One place, so every test builds them the way the stack does (tests/cdk checks the stack's side): the table with
``pk``/``sk`` string keys, on demand, TTL on ``expires_at``; a connection's two token slots and rescue secret created
empty, its app-credentials secret holding ``client_secret`` and ``redirect_uri`` as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from exact_online_sdk.scale._aws import create_coordination_table as _create_table

__all__ = ["ConnectionSecrets", "create_connection_secrets", "create_coordination_table", "create_secret"]


def create_coordination_table(dynamodb: Any, name: str) -> str:
    """Create the coordination table ``name`` as the stack does; returns its name."""
    _create_table(dynamodb, name)
    return name


def create_secret(sm: Any, name: str, value: str | None = None) -> str:
    """Create one secret, empty (as the stack leaves token slots) or holding ``value``; returns its ARN."""
    kwargs: dict[str, Any] = {"Name": name}
    if value is not None:
        kwargs["SecretString"] = value
    return str(sm.create_secret(**kwargs)["ARN"])


@dataclass(frozen=True)
class ConnectionSecrets:
    """The names of one connection's secrets."""

    slots: tuple[str, str]
    rescue: str
    client: str


def create_connection_secrets(
    sm: Any, *, slots: tuple[str, str], rescue: str, client: str, client_secret: str, redirect_uri: str
) -> ConnectionSecrets:
    """A connection's secrets as the stack creates them: empty slots and rescue, the app credentials as JSON."""
    for name in (*slots, rescue):
        create_secret(sm, name)
    create_secret(sm, client, json.dumps({"client_secret": client_secret, "redirect_uri": redirect_uri}))
    return ConnectionSecrets(slots=slots, rescue=rescue, client=client)
