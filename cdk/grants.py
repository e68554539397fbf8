"""Grant helpers: a managed policy that can receive a grant, so a policy for workers is derived from the same grant
method that gives a role access (never a hand-written copy of it)."""

from __future__ import annotations

import jsii
from aws_cdk import aws_iam as iam


@jsii.implements(iam.IPrincipal)
class PolicyGrantee:
    """Adds every statement granted to it to ``policy`` (a customer-managed policy to attach to worker roles).

    A managed policy is not a principal of a resource policy: grants that would need one (cross-account) fail.
    """

    def __init__(self, policy: iam.ManagedPolicy) -> None:
        self.policy = policy

    @property
    def grant_principal(self) -> iam.IPrincipal:
        return self

    @property
    def assume_role_action(self) -> str:
        return "sts:AssumeRole"

    @property
    def policy_fragment(self) -> iam.PrincipalPolicyFragment:
        raise TypeError("a managed policy cannot be named as the principal of a resource policy")

    @property
    def principal_account(self) -> str | None:
        return None

    def add_to_policy(self, statement: iam.PolicyStatement) -> bool:
        return self.add_to_principal_policy(statement).statement_added

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        self.policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self.policy)
