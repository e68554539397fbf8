"""CDK app entry point (`cdk synth`, `python -m cdk.app`).

Context (cdk.json or `-c key=value`): clientId (Exact app client id), baseUrl, redirectUri (the app's registered
redirect URI, for the bootstrap), architecture (arm64|x86_64),
pythonVersion (3.12|3.13), powertoolsVersion ("latest" or a 3.x.y release), writerPrincipalArns (comma-separated
operator role ARNs that may also write the token slots, e.g. for `exact-online auth login`), alarmEmail,
webhooks (true: also deploy the webhook receiver), stackName.
"""

from __future__ import annotations

from aws_cdk import App, Environment
from aws_cdk import aws_lambda as lambda_

from cdk.acknowledgements import add_nag
from cdk.stack import ExactOnlineTokenStack


def _ctx(app: App, key: str, default: str | None = None) -> str | None:
    value = app.node.try_get_context(key)
    return default if value in (None, "") else str(value)


def build_app(app: App | None = None) -> tuple[App, ExactOnlineTokenStack]:
    """Build the app and its one stack, with cdk-nag attached."""
    app = app or App()
    arch = _ctx(app, "architecture", "arm64")
    writers = [a.strip() for a in (_ctx(app, "writerPrincipalArns", "") or "").split(",") if a.strip()]
    stack = ExactOnlineTokenStack(
        app,
        _ctx(app, "stackName", "ExactOnlineToken") or "ExactOnlineToken",
        client_id=_ctx(app, "clientId", "") or "",
        base_url=_ctx(app, "baseUrl", "https://start.exactonline.nl") or "",
        redirect_uri=_ctx(app, "redirectUri", "") or "",
        architecture=lambda_.Architecture.X86_64 if arch == "x86_64" else lambda_.Architecture.ARM_64,
        python_version=_ctx(app, "pythonVersion", "3.13") or "3.13",
        powertools_version=_ctx(app, "powertoolsVersion", "latest") or "latest",
        writer_principal_arns=writers,
        alarm_email=_ctx(app, "alarmEmail"),
        webhooks=(_ctx(app, "webhooks", "false") or "").lower() in {"1", "true", "yes"},
        env=Environment(),
    )
    add_nag(app)
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
