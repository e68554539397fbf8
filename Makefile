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
COV_FLOOR ?= 90

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv \
		|| $(PYTHON) -m pip install --user --quiet --break-system-packages uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --all-extras --frozen
	@touch $@

$(CDK_CLI): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: install
install: $(STAMP)  ## create .venv with everything (uv installed if missing)

PYTEST_WORKERS ?= 2

.PHONY: test
# --max-worker-restart=0: a crashed worker fails the run at once; pytest-xdist 3.8's loadgroup scheduler deadlocks
# after replacing one (pytest-xdist issues 1323/1378), which would turn a crash into a hang.
test: $(STAMP) $(CDK_CLI)  ## install what is needed, then run the whole suite with branch coverage (the 25 slowest listed)
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --dist loadgroup --max-worker-restart=0 --durations=25 \
		--cov --cov-branch --cov-report=term --cov-fail-under=$(COV_FLOOR)

.PHONY: test-fast
test-fast: $(STAMP)  ## the unit tests only, no coverage: the edit-test loop (well under a minute)
	$(UV) run --frozen pytest tests/unit -m "not slow" -n $(PYTEST_WORKERS) --dist loadgroup -q --durations=5

.PHONY: lint
lint: $(STAMP)  ## ruff and mypy --strict on sdk/
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

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

.PHONY: dist
dist: $(STAMP)  ## build the wheel and sdist into dist/
	rm -rf dist && $(UV) build --out-dir dist

.PHONY: clean
clean:  ## remove build artefacts (keeps .venv)
	rm -rf dist build cdk.out .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov .layer-build

.PHONY: synth
synth: $(STAMP) $(CDK_CLI)  ## synthesize the CDK app offline into cdk.out (runs cdk-nag; bundles the layer)
	$(UV) run --frozen $(CDK_CLI) synth --no-notices --quiet

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
demo: $(STAMP)  ## run the whole system offline on the emulator (about a minute), then print a summary
	$(UV) run --frozen exact-online demo

.PHONY: docs
docs: $(STAMP)  ## build the documentation site into site/ (mkdocs --strict: broken links or references fail)
	$(UV) run --frozen mkdocs build --strict
