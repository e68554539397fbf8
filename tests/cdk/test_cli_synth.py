"""`make synth`'s command: the CDK CLI synthesizes the app offline (cdk.json's app, feature flags, real bundling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("cdk-cli")]

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK.exists(), reason="the CDK CLI is not installed (make installs it with npm ci)")
def test_cdk_cli_synth_succeeds_offline_without_credentials(tmp_path: Path) -> None:
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
        [str(CDK), "synth", "--no-notices", "--quiet", "--output", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = tmp_path / "out"
    template = json.loads((out / "ExactOnlineToken.template.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert {f["Properties"]["Architectures"][0] for f in functions} == {"arm64"}
    # No client id in cdk.json: the functions read it from the client credentials secret, and synth says so.
    assert all("EXACT_CLIENT_ID" not in f["Properties"]["Environment"]["Variables"] for f in functions)
    assert "exact:no-client-id" in result.stderr + result.stdout
    report = json.loads((out / "validation-report.json").read_text())
    assert {p["conclusion"] for p in report["pluginReports"]} == {"success"}
    [nag] = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["violations"] == []
