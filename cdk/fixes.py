"""Small template fixes shared by the constructs."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_


def drop_redundant_role_dependency(fn: lambda_.Function) -> None:
    """Keep only the DependsOn on the role's policy: the GetAtt on the role already orders them (cfn-lint W3005)."""
    cfn = fn.node.default_child
    policy = fn.role.node.try_find_child("DefaultPolicy") if fn.role else None
    if not isinstance(cfn, lambda_.CfnFunction) or policy is None:
        return
    stack = Stack.of(fn)
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_policy, iam.CfnPolicy)
    cfn.add_override("DependsOn", [stack.resolve(stack.get_logical_id(cfn_policy))])
