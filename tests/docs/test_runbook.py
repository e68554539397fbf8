"""Every alarm of the synthesized stack has a runbook section, and every runbook alarm section is a real alarm.

The stack is built in-process once for the module (bundling skipped, the optional webhook receiver included so its
alarms, if any, are covered too). An alarm is named by its construct id (``RefresherErrors``), which is also part
of its logical id and of the alarm name CloudFormation generates (``<stack>-TokenRefresherRefresherErrors...``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..cdk.conftest import Synth, synth_app
from .samples import DOCS

pytestmark = [pytest.mark.cdk, pytest.mark.xdist_group("docs-runbook")]

RUNBOOK = DOCS / "runbook.md"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_app(tmp_path_factory.mktemp("cdk-docs"), webhooks="true")


def alarm_ids(synth: Synth) -> dict[str, str]:
    """Construct id -> logical id of every CloudWatch alarm in the template (all of them, checked both ways)."""
    from aws_cdk import aws_cloudwatch as cloudwatch

    in_template = set(synth.resources("AWS::CloudWatch::Alarm"))
    found: dict[str, str] = {}
    for construct in synth.stack.node.find_all():
        if isinstance(construct, cloudwatch.Alarm):
            found[construct.node.id] = synth.logical_id(construct)
    assert set(found.values()) == in_template, (
        f"alarms not built as cloudwatch.Alarm: {in_template - set(found.values())}"
    )
    return found


def alarms_section(text: str) -> str:
    """The body of the "## Alarms" section, up to the next h2."""
    section = re.search(r"^## Alarms\s*$(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "runbook.md has no '## Alarms' section"
    return section["body"]


def runbook_alarm_sections(text: str) -> list[str]:
    """The h3 headings under the "## Alarms" section (a heading may add words after the id)."""
    return [m.group(1) for m in re.finditer(r"^### `?([A-Za-z0-9]+)`?", alarms_section(text), re.MULTILINE)]


def test_each_alarm_has_a_runbook_section_and_no_section_is_stale(synth: Synth) -> None:
    alarms = alarm_ids(synth)
    assert len(alarms) >= 4, f"expected the refresher's alarms in the template, found {sorted(alarms)}"
    sections = runbook_alarm_sections(RUNBOOK.read_text(encoding="utf-8"))
    assert len(sections) == len(set(sections)), f"duplicate runbook sections: {sections}"
    missing = sorted(set(alarms) - set(sections))
    stale = sorted(set(sections) - set(alarms))
    assert not missing, f"alarms without a runbook section in docs/runbook.md: {missing}"
    assert not stale, f"runbook sections for alarms the stack does not define: {stale}"


def test_each_runbook_section_says_what_it_means_how_to_confirm_fix_and_verify() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    sections = re.split(r"^### ", alarms_section(text), flags=re.MULTILINE)[1:]
    assert sections
    for body in sections:
        name = body.splitlines()[0]
        for part in ("**Meaning**", "**Confirm**", "**Fix**", "**Verify the fix**"):
            assert part in body, f"runbook section {name!r} lacks {part}"
        assert "```bash" in body, f"runbook section {name!r} shows no command to confirm it"


def test_runbook_path_is_in_the_site_nav() -> None:
    nav = (Path(DOCS).parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert "runbook.md" in nav
