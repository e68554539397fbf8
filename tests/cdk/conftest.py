"""CDK test set-up: quiet jsii, and one synthesized stack per module (a synth takes several seconds)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")


ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "e1e1a7e0-0000-4000-8000-0000000000aa"
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


@dataclass
class Synth:
    """A synthesized app: the stack object, its template as a dict and the cloud assembly directory."""

    stack: Any
    template: dict[str, Any]
    outdir: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        stack = self.stack
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))


def synth_app(outdir: Path, *, bundling: bool = False, **context: Any) -> Synth:
    """Build cdk.app's stack (nag attached) and synthesize it into ``outdir``."""
    from aws_cdk import App

    from cdk.app import build_app

    # The CLI reads cdk.json (feature flags included); an App built in a test must see the same context.
    ctx: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx.update({"clientId": CLIENT_ID, **context})
    if not bundling:
        ctx.update(SKIP_BUNDLING)
    app, stack = build_app(App(context=ctx, outdir=str(outdir)))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack=stack, template=template, outdir=outdir)
