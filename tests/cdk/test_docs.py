"""The operator docs agree with the code and with each other: context options, the credentials secret's keys, the
pinned CDK CLI. (Every alarm's runbook section is checked in tests/docs/test_runbook.py.)"""

from __future__ import annotations

import re

from .conftest import ROOT

AWS_MD = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
README = (ROOT / "cdk" / "README.md").read_text(encoding="utf-8")
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")


def context_keys_read_by_the_app() -> set[str]:
    source = (ROOT / "cdk" / "app.py").read_text(encoding="utf-8")
    keys = set(re.findall(r"ctx\.(?:text|flag|items|optional_int|mapping)\(\s*\"(\w+)\"", source))
    assert len(keys) >= 15, keys
    return keys


def section(text: str, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\s*$(?P<body>.*?)(?=^#+ |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, heading
    return match["body"]


def test_aws_md_documents_exactly_the_context_options_the_app_reads() -> None:
    table = section(AWS_MD, "Context options")
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert documented == context_keys_read_by_the_app()


def test_cdk_readme_names_the_same_context_options() -> None:
    listed = section(README, "Context options").split(":", 1)[0]
    assert set(re.findall(r"`(\w+)`", listed)) == context_keys_read_by_the_app()


def test_both_docs_give_the_same_keys_for_the_client_credentials_secret() -> None:
    for text in (AWS_MD, README):
        payload = re.search(r"\{\"client_id\": \"[^}]*\}", text)
        assert payload is not None
        assert re.findall(r"\"(\w+)\":", payload.group(0)) == ["client_id", "client_secret", "redirect_uri"]


def test_docs_use_the_pinned_cdk_cli_that_make_cdk_installs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^cdk: \$\(CDK_CLI\)", makefile, re.MULTILINE)
    assert "CDK_CLI := node_modules/.bin/cdk" in makefile
    for text in (AWS_MD, README, RUNBOOK):
        assert "npx cdk" not in text
        assert not re.search(r"^\s*cdk (deploy|bootstrap|destroy|diff)", text, re.MULTILINE)
    assert "make install cdk" in AWS_MD
    assert "make cdk" in README
