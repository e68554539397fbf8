"""cdk-nag 3 (AwsSolutions) on the app, and the one way to accept a finding: ``acknowledge(scope, rule, reason)``.

Every acknowledgment sits next to the resource it concerns and carries its reason. An unacknowledged finding fails
the synth (cdk-nag 3 is a policy-validation plugin); the report is ``validation-report.json`` in the cloud assembly.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

NAG_PACK = "AwsSolutions"


def add_nag(app: App) -> None:
    """Run AwsSolutions on every stack of ``app`` at synth; open findings fail the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept the cdk-nag finding ``rule`` (``AwsSolutions-SMG4``, ``AwsSolutions-IAM5[Resource::*]``) on ``scope``
    and everything under it.

    cdk-nag 3 records and matches the id with its pack prefix (``AwsSolutions::AwsSolutions-SMG4``).
    """
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{rule}", reason=reason))
