# Everything bootstraps itself from python3: a tools venv with a pinned uv, the project venv from uv.lock,
# and aws-sam-cli and checkov as separate uv tools (they pin their own dependencies, so they never share our venv).
# python3 as found; with pyenv and a .python-version (3.13, the runtime) that is not installed, the system's python3
# (the build works with any Python 3.11+).
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| PYENV_VERSION=system python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
BIN    := $(VENV)/bin
SAM    := $(TOOLS)/bin/sam
CHECKOV := $(TOOLS)/bin/checkov
UV_VERSION      := 0.13.9
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_TOOL_DIR := $(abspath $(TOOLS))/uv-tools
export UV_TOOL_BIN_DIR := $(abspath $(TOOLS))/bin
# Tests and local runs never talk to AWS: fixed fake credentials and region.
export AWS_DEFAULT_REGION ?= eu-west-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export POWERTOOLS_TRACE_DISABLED ?= 1
export SAM_CLI_TELEMETRY := 0
export POWERTOOLS_METRICS_NAMESPACE ?= Overage
export POWERTOOLS_SERVICE_NAME ?= overage

.PHONY: help install demo test unit coverage lint format validate security build layer bench clean env-vars mutate

help:
	@echo "make demo      replay a month of CRM events through every function (embedded moto) and print the results"
	@echo "make test      lint + template validation + security scans + the whole pytest suite"
	@echo "make lint      ruff (lint + format check) and mypy"
	@echo "make validate  cfn-lint and sam validate --lint on template.yaml"
	@echo "make security  checkov on template.yaml (skips justified in it) and bandit on the code"
	@echo "make build     sam build (needs a python3.13 on PATH)"
	@echo "make layer     sam build OverageLayer only (pip and PyPI; Python 3.13 compiles its bytecode)"
	@echo "make bench     benchmarks under bench/"
	@echo "make coverage  the pytest suite with line and branch coverage (terminal + reports-local/coverage/), with a floor"
	@echo "make mutate    mutation testing of the domain rules against the fast suites (slow: not part of make test)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	@touch $@

$(SAM): | $(UV)
	$(UV) tool install --quiet --python $(PYTHON) aws-sam-cli==$(SAM_CLI_VERSION)

$(CHECKOV): | $(UV)
	$(UV) tool install --quiet --python $(PYTHON) checkov==$(CHECKOV_VERSION)

install: $(VENV)/.synced

demo: install
	$(BIN)/overage demo

test: lint validate security coverage

unit: install
	$(BIN)/pytest -q -n 2 --dist loadfile

# The suite with coverage of the layer, the handlers and the CLI (pyproject [tool.coverage]), failing under
# COVERAGE_FLOOR percent of lines (91.8 % on 3 Dec 2026; pyproject [tool.coverage.run] says why lines, not branches);
# `make test` runs it, `make unit` is the same suite without coverage.
COVERAGE_FLOOR ?= 88
coverage: install
	$(BIN)/pytest -q -n 2 --dist loadfile --cov --cov-report=term-missing:skip-covered --cov-report=html \
		--cov-fail-under=$(COVERAGE_FLOOR)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

validate: install $(SAM)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

# checkov: every rule a resource does not meet is skipped in its Metadata with the reason (--skip-download: offline).
# bandit: B101 is skipped in pyproject.toml ([tool.bandit]), each other exception is a `# nosec <id>` with its reason.
security: install $(CHECKOV)
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --quiet --compact
	$(BIN)/bandit -c pyproject.toml -r layers functions -q

build: $(SAM)
	$(SAM) build --template template.yaml

layer: $(SAM)
	$(SAM) build OverageLayer --template template.yaml

env-vars: install
	$(BIN)/overage local env-vars > env.local.json

bench: install
	$(BIN)/python -m bench

# Mutants of the money-critical domain modules, each run against the unit and property tests that import it (two
# workers, on a private copy of the tree); fails when one survives that tests/mutation/equivalent.toml does not list.
mutate: install
	$(BIN)/python -m tools.mutate

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis reports-local
