"""`make synth`'s command: the CDK CLI synthesizes the app offline (cdk.json's app and feature flags, cdk-nag, the
real local bundling of the arm64 layer). It is the one test that bundles: its layer asset is checked here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import synth_app
from .test_layer import build_layer, check_layer

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-cli")]

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@dataclass
class CliSynth:
    out: Path
    log: str
    template: dict[str, Any]


def run_cli_synth(out: Path) -> CliSynth:
    if not CDK.exists():  # without the CLI (make installs it with npm ci), bundle through the app itself
        synth = synth_app(out, bundling=True, clientId="")
        return CliSynth(out, "", synth.template)
    env = {
        **os.environ,
        # cdk.json's app is "python -m cdk.app": the project's interpreter must come first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(var, None)
    result = subprocess.run(
        [str(CDK), "synth", "--no-notices", "--quiet", "--output", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return CliSynth(out, log, json.loads((out / "ExactOnlineToken.template.json").read_text()))


def test_cli_synth_is_nag_clean_and_bundles_the_arm64_layer_locally(
    tmp_path: Path, record_property: pytest.RecordProperty, capsys: pytest.CaptureFixture[str]
) -> None:
    # One test, one synth: a synth with real bundling is the slowest thing in this suite.
    cli_synth = run_cli_synth(tmp_path / "out")
    functions = [r for r in cli_synth.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert {f["Properties"]["Architectures"][0] for f in functions} == {"arm64"}
    # No client id in cdk.json: the functions read it from the client credentials secret, and synth says so.
    assert all("EXACT_CLIENT_ID" not in f["Properties"]["Environment"]["Variables"] for f in functions)
    if CDK.exists():
        assert "exact:no-client-id" in cli_synth.log
        assert "exact:no-alarm-email" in cli_synth.log
    report = json.loads((cli_synth.out / "validation-report.json").read_text())
    assert {p["conclusion"] for p in report["pluginReports"]} == {"success"}
    [nag] = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []

    [layer] = [r for r in cli_synth.template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    asset_dir = cli_synth.out / f"asset.{layer['Properties']['Content']['S3Key'].removesuffix('.zip')}"
    python_dir = asset_dir / "python"
    # Precompiled for the runtime (Python 3.13) when this machine has a 3.13 interpreter, else sources only.
    compiler = build_layer.find_python("3.13")
    check_layer(python_dir, "arm64", build_layer.magic_number(compiler) if compiler else None)
    [core] = list((python_dir / "pydantic_core").glob("_pydantic_core*.so"))
    assert "cpython-313-aarch64-linux-gnu" in core.name
    zip_path = tmp_path / "layer.zip"
    build_layer.zip_dir(asset_dir, zip_path)
    with zipfile.ZipFile(zip_path) as zf:
        assert "python/exact_online_sdk/__init__.py" in zf.namelist()
    unzipped, zipped = build_layer.dir_size(asset_dir), zip_path.stat().st_size
    record_property("arm64_layer_unzipped_bytes", unzipped)
    record_property("arm64_layer_zipped_bytes", zipped)
    with capsys.disabled():
        print(f"\narm64 layer: unzipped {unzipped / 1e6:.1f} MB, zipped {zipped / 1e6:.1f} MB")
    # Lambda allows 250 MB unzipped for a function and all its layers; the SDK must leave room.
    assert unzipped < 40_000_000
    # The pinned Powertools release, resolved per region at deploy, applied before the SDK layer.
    from cdk.layer import POWERTOOLS_VERSION

    params = [p["Default"] for p in cli_synth.template["Parameters"].values()]
    assert f"/aws/service/powertools/python/arm64/python3.13/{POWERTOOLS_VERSION}" in params
