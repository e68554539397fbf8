"""The further Exact connections of one stack (besides "default"): their secrets, in nested stacks.

Each further connection has its own two token slots, rescue secret and client-credentials secret, named
``<prefix><name>/token-a``, ``/token-b``, ``/rescue``, ``/client`` (the refresher and workers find them by that rule,
``exact_online_sdk.aws.connections``), encrypted with the "default" connection's key. A connection costs eight
CloudFormation resources (four secrets, four resource policies): they live in :data:`GROUPS` nested stacks so that a
hundred connections stay far below CloudFormation's 500 resources per stack. A connection's group is a hash of its
name: adding or removing one never moves another (a moved secret would be replaced, and its token lost).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import NestedStack, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.token_slots import TokenSlots
from exact_online_sdk.aws.connections import DEFAULT_CONNECTION, check_connection_name

GROUPS = 8
"""Nested stacks the further connections are spread over (fixed: a change would move connections)."""
OPTION_KEYS = {"baseUrl": "base_url", "clientId": "client_id", "redirectUri": "redirect_uri"}
"""A connection's own options in the CDK context -> its key in ``EXACT_CONNECTIONS``."""


def group_of(name: str) -> int:
    """The nested stack of connection ``name`` (stable: depends on the name only)."""
    return zlib.crc32(name.encode()) % GROUPS


def normalize_connections(
    connections: Mapping[str, Mapping[str, str] | None] | Iterable[str],
) -> dict[str, dict[str, str]]:
    """The further connections as name -> their own options (``baseUrl``, ``clientId``, ``redirectUri``).

    A list of names or a mapping; "default" is always there and never listed here (left out if given)."""
    items = connections.items() if isinstance(connections, Mapping) else ((n, None) for n in connections)
    result: dict[str, dict[str, str]] = {}
    for name, options in items:
        check_connection_name(name)
        if name == DEFAULT_CONNECTION:
            continue
        unknown = sorted(set(options or {}) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(f"connection {name!r}: unknown options {unknown} (allowed: {sorted(OPTION_KEYS)})")
        if name in result:
            raise ValueError(f"connection {name!r} is listed twice")
        result[name] = {str(k): str(v) for k, v in (options or {}).items() if v}
    return result


class ConnectionSecrets(NestedStack):
    """The secrets of the further connections whose :func:`group_of` is this group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: Sequence[str],
        key: kms.IKey,
        secret_name_prefix: str,
        removal_policy: RemovalPolicy,
        reader_principals: Sequence[str],
        admin_principal_arns: Sequence[str],
        deployer_principal_arns: Sequence[str],
    ) -> None:
        super().__init__(
            scope, construct_id, description="Exact Online token secrets of further connections (exact-online-toolkit)"
        )
        self.connections = {
            name: TokenSlots(
                self,
                name,
                removal_policy=removal_policy,
                reader_principals=reader_principals,
                admin_principal_arns=admin_principal_arns,
                deployer_principal_arns=deployer_principal_arns,
                key=key,
                connection=name,
                secret_name_prefix=secret_name_prefix,
            )
            for name in names
        }
