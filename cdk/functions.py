"""The stack's Python Lambda functions, built one way: runtime, architecture, layers, logs, tracing and the
cdk-nag acknowledgments every such function needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.acknowledgements import acknowledge

RUNTIMES = {
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
    "3.14": lambda_.Runtime.PYTHON_3_14,
}
LATEST_RUNTIME = RUNTIMES["3.14"]

# Source files only: caches and tests never go into a function's code asset.
CODE_EXCLUDE = ["__pycache__", "*.pyc", "tests"]


@dataclass(frozen=True)
class FunctionSettings:
    """What an operator tunes on a function of the stack."""

    memory_size: int = 256
    tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH


def runtime_for(python_version: str) -> lambda_.Runtime:
    """The Lambda runtime of a Python version ("3.13"); a clear error for one the stack does not build for."""
    if python_version not in RUNTIMES:
        raise ValueError(f"python_version must be one of {sorted(RUNTIMES)}, not {python_version!r}")
    return RUNTIMES[python_version]


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    code: Path,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    layers: Sequence[lambda_.ILayerVersion],
    environment: Mapping[str, str],
    timeout: Duration,
    log_group_id: str,
    settings: FunctionSettings | None = None,
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    reserved_concurrent_executions: int | None = None,
    retry_attempts: int | None = None,
    max_event_age: Duration | None = None,
    on_failure: lambda_.IDestination | None = None,
) -> lambda_.Function:
    """A ``handler.handler`` function from the directory ``code``, with JSON logs in its own log group.

    ``layers`` are applied in the order given: a later layer's files win over an earlier one's.
    """
    settings = settings or FunctionSettings()
    log_group = logs.LogGroup(scope, log_group_id, retention=settings.log_retention, removal_policy=removal_policy)
    fn = lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=runtime,
        architecture=architecture,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(code), exclude=CODE_EXCLUDE),
        layers=list(layers),
        memory_size=settings.memory_size,
        timeout=timeout,
        reserved_concurrent_executions=reserved_concurrent_executions,
        retry_attempts=retry_attempts,
        max_event_age=max_event_age,
        on_failure=on_failure,
        tracing=settings.tracing,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        environment=dict(environment),
    )
    cfn = fn.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    # With the feature flag @aws-cdk/aws-lambda:recognizeLayerVersion, CDK sorts the layers by construct path: the
    # order that decides which layer's files win would depend on where each layer was defined. Keep the given one.
    cfn.add_property_override("Layers", [layer.layer_version_arn for layer in layers])
    _acknowledge_function_findings(fn, log_group, runtime)
    return fn


def role_of(fn: lambda_.Function) -> iam.IRole:
    """The function's execution role (always present: the stack never passes a function without one)."""
    role = fn.role
    assert role is not None
    return role


def drop_redundant_role_dependency(fn: lambda_.Function) -> None:
    """Keep only the DependsOn on the role's policy: the GetAtt on the role already orders them (cfn-lint W3005).

    Call it after the last grant to the function (the role's default policy must exist).
    """
    cfn = fn.node.default_child
    policy = fn.role.node.try_find_child("DefaultPolicy") if fn.role else None
    if not isinstance(cfn, lambda_.CfnFunction) or policy is None:
        return
    stack = Stack.of(fn)
    cfn_policy = policy.node.default_child
    assert isinstance(cfn_policy, iam.CfnPolicy)
    cfn.add_override("DependsOn", [stack.resolve(stack.get_logical_id(cfn_policy))])


def _acknowledge_function_findings(fn: lambda_.Function, log_group: logs.LogGroup, runtime: lambda_.Runtime) -> None:
    acknowledge(
        fn,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AWSLambdaBasicExecutionRole only allows writing the function's own CloudWatch logs.",
    )
    acknowledge(
        fn,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
    )
    if runtime.name != LATEST_RUNTIME.name:
        acknowledge(
            fn,
            "AwsSolutions-L1",
            f"{runtime.name} is a supported runtime chosen on purpose: the SDK layer's compiled wheels and the "
            "Powertools managed layer are built per runtime; -c pythonVersion=3.14 switches.",
        )
    acknowledge(
        fn,
        "CKV_AWS_117",
        "The function calls Exact Online and AWS APIs only and reaches no private resource: a VPC would add a NAT "
        "gateway (~$32/month) and a point of failure for nothing.",
    )
    acknowledge(
        fn,
        "CKV_AWS_173",
        "The environment holds ARNs, names and URLs only, never a secret (secrets are read from Secrets Manager); "
        "Lambda encrypts it at rest with an AWS key.",
    )
    acknowledge(
        log_group,
        "CKV_AWS_158",
        "The functions never log a token, secret or code; CloudWatch Logs encrypts at rest with service keys, and "
        "a customer key would need a key policy for the logs service.",
    )
