"""The Exact app's credentials as the Lambda functions find them: environment plus one Secrets Manager secret.

The stack passes ``EXACT_CLIENT_ID`` (optional) and ``EXACT_CLIENT_SECRET_ARN``, a secret holding
``{"client_id": "...", "client_secret": "...", "redirect_uri": "..."}`` (``client_id``/``redirect_uri`` optional
there when set in the environment). ``EXACT_CLIENT_SECRET`` in the environment wins (local runs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..auth._settings import settings_from
from ..exceptions import ConfigError

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["AppCredentials", "load_app_credentials"]


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """Client id, client secret (never shown) and the registered redirect URI (None when not configured)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str | None = None


def load_app_credentials(settings: Settings | Mapping[str, str] | None, secrets: Any) -> AppCredentials:
    """Read the credentials from :class:`~exact_online_sdk.config.Settings` (or the ``EXACT_*`` entries of a
    mapping; None: the environment); ``secrets`` is a Secrets Manager client (used only when the secret is
    not in the settings)."""
    s = settings_from(settings)
    client_id = s.client_id or ""
    secret = s.client_secret.get_secret_value() if s.client_secret is not None else ""
    redirect = s.redirect_uri or ""
    arn = s.client_secret_arn
    if arn and (not secret or not client_id or not redirect):
        text = secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT").get("SecretString") or ""
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        if isinstance(body, dict):
            secret = secret or str(body.get("client_secret") or "")
            client_id = client_id or str(body.get("client_id") or "")
            redirect = redirect or str(body.get("redirect_uri") or "")
        elif not secret:
            secret = str(body).strip()
    if not client_id:
        raise ConfigError(
            'EXACT_CLIENT_ID is not set (nor "client_id" in the EXACT_CLIENT_SECRET_ARN secret)',
            variable="EXACT_CLIENT_ID",
        )
    if not secret:
        raise ConfigError(
            'no client secret: put {"client_secret": "..."} into the EXACT_CLIENT_SECRET_ARN secret',
            variable="EXACT_CLIENT_SECRET_ARN",
        )
    return AppCredentials(client_id, secret, redirect or None)
