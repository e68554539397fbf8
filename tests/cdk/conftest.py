"""CDK test set-up: quiet jsii, and one synthesized stack per module (a synth takes several seconds).

Templates are checked with ``aws_cdk.assertions.Template`` (built from the synthesized JSON, no second synth).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

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
    _assertions: Any = field(default=None, repr=False)

    @property
    def t(self) -> Template:
        """The template as ``aws_cdk.assertions.Template``."""
        if self._assertions is None:
            from aws_cdk.assertions import Template

            self._assertions = Template.from_json(self.template)
        return self._assertions

    def warnings(self) -> list[str]:
        """The synth warnings of the stack (``Annotations.add_warning_v2``), from the cloud assembly."""
        metadata = json.loads((self.outdir / f"{self.stack.stack_name}.metadata.json").read_text())
        return [e["data"] for entries in metadata.values() for e in entries if e["type"] == "aws:cdk:warning"]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        """The logical id of a construct's CloudFormation resource (its default child, or itself)."""
        from aws_cdk import CfnElement

        stack = self.stack
        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        return str(stack.resolve(stack.get_logical_id(element)))

    def ref(self, construct: Any) -> dict[str, str]:
        return {"Ref": self.logical_id(construct)}

    def arn(self, construct: Any) -> dict[str, list[str]]:
        return {"Fn::GetAtt": [self.logical_id(construct), "Arn"]}

    def properties(self, construct: Any) -> dict[str, Any]:
        return dict(self.template["Resources"][self.logical_id(construct)]["Properties"])


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
