"""Accepted findings of the template checkers, each with its reason, all through ``acknowledge(scope, rule, reason)``.

- cdk-nag 3 (AwsSolutions) runs at synth as a policy-validation plugin: an unacknowledged finding fails the synth;
  the report is ``validation-report.json`` in the cloud assembly. Rule ids look like ``AwsSolutions-SMG4`` or
  ``AwsSolutions-IAM5[Resource::*]``.
- checkov (``make synth`` runs it on the template) reads skips from the resource's ``Metadata.checkov.skip``;
  rule ids look like ``CKV_AWS_117``.

Every acknowledgment sits next to the resource it concerns, in the construct that creates it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

NAG_PACK = "AwsSolutions"


def add_nag(app: App) -> None:
    """Run AwsSolutions on every stack of ``app`` at synth; open findings fail the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept the finding ``rule`` of cdk-nag (``AwsSolutions-...``) or checkov (``CKV_...``) on ``scope``.

    A cdk-nag acknowledgment covers ``scope`` and everything under it (cdk-nag 3 records and matches the id with
    its pack prefix, ``AwsSolutions::AwsSolutions-SMG4``). A checkov one goes on the CloudFormation resource of
    ``scope`` (its default child), or on every resource under it when it has none.
    """
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    if rule.startswith("CKV"):
        for resource in _cfn_resources(scope):
            _add_checkov_skip(resource, rule, reason)
    else:
        Validations.of(scope).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{rule}", reason=reason))


def _cfn_resources(scope: IConstruct) -> list[CfnResource]:
    if isinstance(scope, CfnResource):
        return [scope]
    default = scope.node.default_child
    if isinstance(default, CfnResource):
        return [default]
    return [c for c in scope.node.find_all() if isinstance(c, CfnResource)]


def _add_checkov_skip(resource: CfnResource, rule: str, reason: str) -> None:
    existing: Any = resource.get_metadata("checkov") or {}
    skips = [s for s in existing.get("skip", []) if s.get("id") != rule]
    resource.add_metadata("checkov", {**existing, "skip": [*skips, {"id": rule, "comment": reason}]})
