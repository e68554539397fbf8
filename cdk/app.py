"""CDK app entry point (`cdk synth`, `python -m cdk.app`). Context options (cdk.json or `-c key=value`):

- clientId: the Exact app's client id (else the functions read "client_id" from the client-credentials secret)
- baseUrl: Exact's host for the app's region (default https://start.exactonline.nl)
- redirectUri: the app's registered redirect URI, for the bootstrap (else read from the client-credentials secret)
- architecture: arm64 (default) or x86_64; pythonVersion: 3.12, 3.13 (default) or 3.14
- powertoolsVersion: the Powertools layer release (default: the one the tests ran with; "latest" is allowed with a
  warning); powertoolsLayerArn: an explicit layer ARN instead (a region without the public SSM parameter)
- alarmEmail: where alarms are mailed (confirm the subscription mail); without it, synth warns
- writerPrincipalArns: operator roles that may also write the token slots (`exact-online auth login`)
- adminPrincipalArns: roles that may delete/restore the secrets and change their policies (besides the deploy role)
- readerPrincipals: account ids or role ARNs of other accounts whose workers read the token
- refresherReservedConcurrency: reserve concurrency for the refresher (default none: the lease fences it)
- webhooks: true to deploy the webhook receiver; webhookReservedConcurrency: its cap (default 10, "none": no cap)
- alarmThresholds: JSON object alarm name -> threshold; tags: JSON object or "k=v,k2=v2"; stackName
List options are comma-separated strings (or JSON lists in cdk.json).
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Environment
from aws_cdk import aws_lambda as lambda_

from cdk.acknowledgements import add_nag
from cdk.layer import POWERTOOLS_VERSION
from cdk.stack import ExactOnlineTokenStack
from cdk.webhooks import DEFAULT_RESERVED_CONCURRENCY
from exact_online_sdk.config import DEFAULT_BASE_URL


class Context:
    """Typed reads of the app's context (values from the CLI arrive as strings)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def raw(self, key: str) -> Any:
        value = self.app.node.try_get_context(key)
        return None if value in (None, "") else value

    def text(self, key: str, default: str = "") -> str:
        value = self.raw(key)
        return default if value is None else str(value)

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        return value is True or str(value).lower() in {"1", "true", "yes"}

    def items(self, key: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return []
        parts = value if isinstance(value, list) else str(value).split(",")
        return [str(p).strip() for p in parts if str(p).strip()]

    def optional_int(self, key: str, default: int | None) -> int | None:
        value = self.raw(key)
        if value is None:
            return default
        if str(value).lower() in {"none", "off", "false"}:
            return None
        return int(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        text = str(value).strip()
        if text.startswith("{"):
            return {str(k): str(v) for k, v in json.loads(text).items()}
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        return {k.strip(): v.strip() for k, v in pairs}


def build_app(app: App | None = None) -> tuple[App, ExactOnlineTokenStack]:
    """Build the app and its one stack, with cdk-nag attached."""
    app = app or App()
    ctx = Context(app)
    architecture = ctx.text("architecture", "arm64")
    if architecture not in {"arm64", "x86_64"}:
        raise ValueError(f"architecture must be arm64 or x86_64, not {architecture!r}")
    stack = ExactOnlineTokenStack(
        app,
        ctx.text("stackName", "ExactOnlineToken"),
        client_id=ctx.text("clientId"),
        base_url=ctx.text("baseUrl", DEFAULT_BASE_URL),
        redirect_uri=ctx.text("redirectUri"),
        architecture=lambda_.Architecture.X86_64 if architecture == "x86_64" else lambda_.Architecture.ARM_64,
        python_version=ctx.text("pythonVersion", "3.13"),
        powertools_version=ctx.text("powertoolsVersion", POWERTOOLS_VERSION),
        writer_principal_arns=ctx.items("writerPrincipalArns"),
        alarm_email=ctx.text("alarmEmail") or None,
        webhooks=ctx.flag("webhooks"),
        webhook_reserved_concurrency=ctx.optional_int("webhookReservedConcurrency", DEFAULT_RESERVED_CONCURRENCY),
        tags=ctx.mapping("tags"),
        refresher_options={
            "powertools_layer_arn": ctx.text("powertoolsLayerArn") or None,
            "admin_principal_arns": ctx.items("adminPrincipalArns"),
            "reader_principals": ctx.items("readerPrincipals"),
            "reserved_concurrency": ctx.optional_int("refresherReservedConcurrency", None),
            "alarm_thresholds": {k: float(v) for k, v in ctx.mapping("alarmThresholds").items()},
        },
        env=Environment(),
    )
    add_nag(app)
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
