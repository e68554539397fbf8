# exact-online-toolkit: every command a developer or CI runs. Works on a fresh clone with Python 3.11+, Node, make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
export UV_LINK_MODE ?= copy
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export CDK_DISABLE_CLI_TELEMETRY ?= true
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION ?= 1
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced
CDK_CLI := node_modules/.bin/cdk
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.synced
COV_FLOOR ?= 90

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@command -v uv >/dev/null 2>&1 || PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --user --quiet uv \
		|| PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --user --quiet --break-system-packages uv

# UV_SYNC_FLAGS: `--quiet` for targets whose own output is the point (make demo sets it).
# --compile-bytecode: the libraries' .pyc are written once here, so a process that may not write bytecode
# (PYTHONDONTWRITEBYTECODE) does not compile boto3, moto, pydantic... from source at every start (~2.5 s each).
$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(if $(UV_SYNC_FLAGS),echo "Installing the Python environment into .venv (uv; a minute on the first run)...")
	$(if $(UV_SYNC_FLAGS),@)$(UV) sync --all-extras --frozen --compile-bytecode $(UV_SYNC_FLAGS)
	@touch $@

$(CDK_CLI): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov pins older versions of libraries the project uses: it lives in its own environment, locked in uv.lock.
$(CHECKOV_STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(CHECKOV_VENV) $(UV) sync --frozen --only-group checkov --quiet
	@touch $@

.PHONY: install
install: $(STAMP)  ## create .venv with everything (uv installed if missing)

.PHONY: cdk
cdk: $(CDK_CLI)  ## install the AWS CDK CLI pinned by package-lock.json into node_modules/.bin/cdk (npm ci)

PYTEST_WORKERS ?= 2
# test-fast caches the bytecode of sdk/ and tests/ under .venv/pycache (never beside the sources), even where
# PYTHONDONTWRITEBYTECODE is set: compiling them anew costs each pytest worker ~5 s. Not for `make test`: there the
# Lambda layer build's compileall would write the layer's .pyc into that prefix instead of into the layer.
FAST_TEST_ENV := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache

.PHONY: test
# --max-worker-restart=0: a crashed worker fails the run at once; pytest-xdist 3.8's loadgroup scheduler deadlocks
# after replacing one (pytest-xdist issues 1323/1378), which would turn a crash into a hang.
test: $(STAMP) $(CDK_CLI)  ## install what is needed, then run the whole suite with branch coverage (the 25 slowest listed)
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --dist loadgroup --max-worker-restart=0 --durations=25 \
		--cov --cov-branch --cov-report=term --cov-fail-under=$(COV_FLOOR)

.PHONY: test-fast
test-fast: $(STAMP)  ## tests/unit minus `slow`, no coverage (no CDK, docs, e2e or moto/Prefect servers): ~30 s
	$(FAST_TEST_ENV) $(UV) run --frozen pytest tests/unit -m "not slow" -n $(PYTEST_WORKERS) --dist loadgroup -q --durations=5

.PHONY: mutate
mutate: $(STAMP)  ## plant the refresher bugs of issue 12 one at a time: the e2e must catch each (~10 min)
	$(UV) run --frozen python tools/mutate_chain.py

.PHONY: lint
lint: $(STAMP)  ## ruff, mypy --strict on sdk/, and the generated code is current (api/_blocking.py included)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen python tools/codegen.py --check

.PHONY: fmt
fmt: $(STAMP)  ## format the code
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

SHARED_REFERENCE := ../shared/exact-api/endpoints.json

.PHONY: codegen
codegen: $(STAMP)  ## copy ../shared's reference into tools/reference/ (when present), regenerate models/, api/, registry
	@if [ -f $(SHARED_REFERENCE) ]; then cp $(SHARED_REFERENCE) tools/reference/endpoints.json; \
		echo "codegen: reference copied from $(SHARED_REFERENCE)"; fi
	$(UV) run --frozen python tools/codegen.py

PART ?= patch

.PHONY: bump-version
bump-version:  ## raise the version (PART=patch|minor|major) and date the CHANGELOG's Unreleased section
	$(UV) run --frozen python tools/bump_version.py $(PART)

.PHONY: dist
dist: $(STAMP)  ## build the wheel and sdist into dist/
	rm -rf dist && $(UV) build --out-dir dist

.PHONY: audit
audit: $(STAMP)  ## check the locked dependencies for known vulnerabilities (needs the internet; exit 2 = not checked)
	$(UV) run --frozen --group audit python tools/audit.py $(AUDIT_ARGS)

.PHONY: clean
clean:  ## remove build artefacts (keeps .venv)
	rm -rf dist build cdk.out .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov .layer-build $(CHECKOV_VENV)

.PHONY: synth
synth: $(STAMP) $(CDK_CLI) $(CHECKOV_STAMP)  ## synthesize the CDK app offline into cdk.out (cdk-nag, layer), then checkov
	$(UV) run --frozen $(CDK_CLI) synth --no-notices --quiet
	$(MAKE) --no-print-directory checkov

.PHONY: checkov
checkov: $(CHECKOV_STAMP)  ## checkov on the synthesized templates in cdk.out (accepted findings: Metadata.checkov.skip)
	@for template in cdk.out/*.template.json; do \
		BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --file $$template --framework cloudformation \
			--quiet --compact --skip-download || exit 1; \
	done

LAYER_ARCH ?= arm64
LAYER_PYTHON ?= 3.13

.PHONY: layer
layer: $(STAMP)  ## build the SDK Lambda layer (LAYER_ARCH=arm64|x86_64) into .layer-build/ and report its size
	$(UV) run --frozen python tools/build_layer.py --arch $(LAYER_ARCH) --python-version $(LAYER_PYTHON) \
		--out .layer-build/$(LAYER_ARCH) --zip .layer-build/sdk-layer-$(LAYER_ARCH).zip

.PHONY: bench
bench: $(STAMP)  ## run benchmarks/ (peers in benchmarks/.peers/) and write benchmarks/REPORT.md and REPORT.json
	$(UV) run --frozen python benchmarks/run.py

.PHONY: demo
demo: UV_SYNC_FLAGS = --quiet
demo: $(STAMP)  ## run the whole system offline on the emulator (a simulated hour in seconds), then print a summary
	@$(UV) run --frozen --quiet python -m demo

.PHONY: docs
docs: $(STAMP)  ## build the documentation site into site/ (mkdocs --strict; Mermaid vendored from npm, no CDN)
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict

DOCS_CHECK_DIR := build/docs-check

.PHONY: docs-check
docs-check: docs  ## check site/: nothing loaded from other hosts; diagrams drawn in headless Chromium (a screenshot)
	DOCS_SITE_DIR=site DOCS_SCREENSHOT_DIR=$(DOCS_CHECK_DIR) $(UV) run --frozen pytest -p no:cacheprovider -n 0 -q -rs \
		tests/docs/test_site.py tests/docs/test_site_offline.py tests/docs/test_site_browser.py
	@echo "docs-check: screenshot of the concepts page in $(DOCS_CHECK_DIR)/concepts.png"
