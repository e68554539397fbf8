"""Settings from ``EXACT_*`` environment variables and an optional ``.env`` file (read only when asked).

Variables: ``EXACT_CLIENT_ID``, ``EXACT_CLIENT_SECRET``, ``EXACT_REDIRECT_URI``, ``EXACT_BASE_URL``,
``EXACT_REGION`` (nl, be, de, uk, us, es, fr: a shortcut for the base URL), ``EXACT_DIVISION``,
``EXACT_TIMEOUT``, ``EXACT_USER_AGENT``, ``EXACT_LANGUAGE`` (CustomDescriptionLanguage), ``EXACT_LOG_LEVEL``,
``EXACT_LOG_JSON``, ``EXACT_LOG_FILE``, ``EXACT_ENCRYPTION_KEY``, ``EXACT_TOKEN_PATH``, ``EXACT_WEBHOOK_SECRET``;
on AWS: ``EXACT_TOKEN_SECRET_A``/``EXACT_TOKEN_SECRET_B`` (the two token slots) or ``EXACT_TOKEN_SECRET`` (a name
prefix), ``EXACT_RESCUE_SECRET``, ``EXACT_CLIENT_SECRET_ARN``, ``EXACT_WEBHOOK_SECRET_ARN``,
``EXACT_COORDINATION_TABLE`` (DynamoDB: refresher lease, shared rate budget, sync cursors); for tools:
``EXACT_ACCESS_TOKEN`` (use this access token as is, never refresh), ``EXACT_LISTENER_CERT_PATH``,
``EXACT_LISTENER_KEY_PATH`` (TLS for the local login listener).
Secrets are :class:`~pydantic.SecretStr`; errors name the variable and never echo a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._core.hosts import DEFAULT_BASE_URL, REGION_HOSTS
from ._core.request import normalize_base_url
from .exceptions import ConfigError

__all__ = ["DEFAULT_BASE_URL", "REGION_HOSTS", "Settings"]


_SECRET_FIELDS = ("client_secret", "encryption_key", "webhook_secret", "access_token")


class Settings(BaseSettings):
    """Configuration of the SDK. ``Settings()`` reads the environment; :meth:`from_env` may add a ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="EXACT_",
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
        validate_default=True,
    )

    client_id: str | None = None
    client_secret: SecretStr | None = None
    redirect_uri: str | None = None
    base_url: str | None = None
    region: Literal["nl", "be", "de", "uk", "us", "es", "fr"] | None = None
    division: int | None = Field(default=None, gt=0)
    timeout: float = Field(default=30.0, gt=0, le=600)
    user_agent: str | None = None
    language: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    log_json: bool = False
    log_file: Path | None = None
    encryption_key: SecretStr | None = None
    token_path: Path | None = None
    webhook_secret: SecretStr | None = None
    # AWS deployment (names or ARNs of the stack's resources)
    token_secret_a: str | None = None
    token_secret_b: str | None = None
    token_secret: str | None = None
    rescue_secret: str | None = None
    client_secret_arn: str | None = None
    webhook_secret_arn: str | None = None
    coordination_table: str | None = None
    # tools
    access_token: SecretStr | None = None
    listener_cert_path: Path | None = None
    listener_key_path: Path | None = None

    @field_validator("region", mode="before")
    @classmethod
    def _region_lower(cls, value: Any) -> Any:
        return value.strip().lower() or None if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "client_id",
        "redirect_uri",
        "user_agent",
        "language",
        "token_secret_a",
        "token_secret_b",
        "token_secret",
        "rescue_secret",
        "client_secret_arn",
        "webhook_secret_arn",
        "coordination_table",
        *_SECRET_FIELDS,
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # An empty variable (``EXACT_ACCESS_TOKEN=``) means "not set", as it does for a shell script.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _resolve_base_url(self) -> Settings:
        region_host = REGION_HOSTS[self.region] if self.region else None
        if self.base_url:
            self.base_url = normalize_base_url(self.base_url)
            if region_host and self.base_url != region_host:
                raise ConfigError(
                    f"EXACT_REGION={self.region} and EXACT_BASE_URL disagree; set only one", variable="EXACT_REGION"
                )
        else:
            self.base_url = region_host or DEFAULT_BASE_URL
        return self

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @classmethod
    def from_env(cls, env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
        """Settings from the environment plus ``env_file`` when it exists (environment variables win)."""
        if env_file is not None and Path(env_file).is_file():
            overrides.setdefault("_env_file", str(env_file))
        return cls(**overrides)

    @property
    def host(self) -> str:
        """The resolved base URL (``DEFAULT_BASE_URL`` unless ``EXACT_BASE_URL`` or ``EXACT_REGION`` is set)."""
        return self.base_url or DEFAULT_BASE_URL

    def __repr__(self) -> str:
        shown = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in _SECRET_FIELDS:
                value = "***" if value is not None else None
            shown.append(f"{name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


def _config_error(exc: ValidationError) -> ConfigError:
    problems = []
    first: str | None = None
    for err in exc.errors(include_input=False, include_url=False):
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else ""
        variable = f"EXACT_{name.upper()}" if name else "settings"
        first = first or variable
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, ConfigError):
            problems.append(str(inner))
            first = inner.variable or first
        else:
            problems.append(f"{variable}: {err.get('msg', 'invalid value')}")
    return ConfigError("invalid settings: " + "; ".join(problems), variable=first)
