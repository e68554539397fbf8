"""cdk-nag 3 (AwsSolutions) on the app, and the reasoned acknowledgments of the findings we accept."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# rule id -> why the finding is accepted for this stack. The id carries the pack prefix: that is what cdk-nag 3
# records and matches.
ACKNOWLEDGED: dict[str, str] = {}


def add_nag(app: App) -> None:
    """Run AwsSolutions on every stack of ``app`` at synth; open findings fail the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rules: dict[str, str] | None = None) -> None:
    """Acknowledge ``rules`` (default: ACKNOWLEDGED) on ``scope`` and everything under it."""
    for rule, reason in (rules if rules is not None else ACKNOWLEDGED).items():
        Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
