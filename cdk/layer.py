"""The functions' layers: the SDK, bundled locally (no Docker) by tools/build_layer.py, and AWS's managed
Powertools layer at a pinned version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Annotations, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent

# The Powertools release the handlers are tested with (the aws-lambda-powertools version in uv.lock; a test keeps
# them equal). "latest" would let every deploy swap in an untested release.
POWERTOOLS_VERSION = "3.37.0"

# The asset is fingerprinted from the sources that go into the layer only, so .venv, node_modules, tests and
# cdk.out neither slow down hashing nor change the layer's hash.
LAYER_SOURCES_EXCLUDE = [
    "*",
    "!sdk/",
    "!sdk/**",
    "!pyproject.toml",
    "!uv.lock",
    "!README.md",
    "!tools/",
    "!tools/build_layer.py",
    "__pycache__/",
    "*.pyc",
]


def arch_name(architecture: lambda_.Architecture) -> str:
    """ "arm64" or "x86_64" for a Lambda architecture."""
    return "arm64" if architecture.name == lambda_.Architecture.ARM_64.name else "x86_64"


@jsii.implements(ILocalBundling)
class LocalLayerBundling:
    """Runs tools/build_layer.py on this machine for the Lambda platform (pip/uv --platform manylinux2014_*)."""

    def __init__(self, arch: str, python_version: str) -> None:
        self.arch = arch
        self.python_version = python_version

    def try_bundle(self, output_dir: str, *_args: Any, **_kwargs: Any) -> bool:
        # A fixed argv (this interpreter, our script, validated arch/version): no shell, no user input.
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "tools" / "build_layer.py"),
                "--out",
                output_dir,
                "--arch",
                self.arch,
                "--python-version",
                self.python_version,
            ],
            check=True,
        )
        return True


class SdkLayer(Construct):
    """A LayerVersion holding exact_online_sdk and its runtime dependencies (no boto3, no CLI, no dev tools)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        architecture: lambda_.Architecture,
        runtime: lambda_.Runtime,
        python_version: str,
    ) -> None:
        super().__init__(scope, construct_id)
        arch = arch_name(architecture)
        code = lambda_.Code.from_asset(
            str(ROOT),
            exclude=LAYER_SOURCES_EXCLUDE,
            ignore_mode=IgnoreMode.GIT,
            bundling=BundlingOptions(
                # Never pulled: local bundling always succeeds or raises; the image is a required field.
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python" + python_version),
                local=LocalLayerBundling(arch, python_version),
                command=["false"],
            ),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_architectures=[architecture],
            compatible_runtimes=[runtime],
            description=f"exact_online_sdk with runtime deps for {runtime.name} {arch} (no boto3)",
        )


def powertools_layer(
    scope: Construct,
    *,
    architecture: lambda_.Architecture,
    python_version: str,
    version: str = POWERTOOLS_VERSION,
    layer_arn: str | None = None,
) -> lambda_.ILayerVersion:
    """AWS's managed Powertools layer: ``layer_arn`` when given, else the ARN of ``version`` for this region,
    architecture and runtime, resolved at deploy from the public SSM parameter
    ``/aws/service/powertools/python/<arch>/python<version>/<release>``."""
    if not layer_arn:
        if version == "latest":
            Annotations.of(scope).add_warning_v2(
                "exact:powertools-latest",
                "powertoolsVersion=latest: every deploy may bring a Powertools release the handlers were not "
                f"tested with (tested: {POWERTOOLS_VERSION}).",
            )
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            scope, f"/aws/service/powertools/python/{arch_name(architecture)}/python{python_version}/{version}"
        )
    return lambda_.LayerVersion.from_layer_version_arn(scope, "Powertools", layer_arn)


def function_layers(powertools: lambda_.ILayerVersion, sdk: lambda_.ILayerVersion) -> list[lambda_.ILayerVersion]:
    """The layers in the order Lambda must apply them: a later layer's files overwrite an earlier one's in /opt,
    and the Powertools layer carries its own pydantic. The SDK layer comes last so its pinned dependencies win
    (``python_function`` keeps this order in the template; CDK alone would sort layers by construct path)."""
    return [powertools, sdk]
