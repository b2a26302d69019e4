# The README's two commands:
#   make run    set up, then run the embedded default grid through DVC (digits-LT, CPU, a few minutes)
#   make test   set up, then run the whole test suite (what .ci/run calls)
#
# Set-up is a virtual environment in this checkout (.venv): the machine's own Python packages
# are never touched, and each checkout imports its own src/. After `make install`,
# `source .venv/bin/activate` puts this checkout's snakemake, dvc, mlflow and python first on PATH.
#
# LTGRID_BASE_VENV=/other/checkout/.venv makes a new .venv borrow that environment's installed
# packages (a second checkout without a second 5 GB torch); this checkout's own code is still
# installed into its own .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# Every recipe (and what it starts: dvc, Snakemake's jobs, pytest's subprocesses) runs the venv's tools.
export PATH := $(BIN):$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: install system-deps run test unit

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@if [ -n "$(LTGRID_BASE_VENV)" ]; then $(BIN)/python tools/borrow_venv.py "$(LTGRID_BASE_VENV)" || { rm -rf $(VENV); exit 1; }; fi

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# Debian packages the tests drive for real: a one-node SLURM cluster and headless Chromium.
system-deps:
	bash .ci/install-system-deps.sh

run: install
	dvc repro

test: install system-deps
	$(BIN)/python -m pytest -q

unit: install
	$(BIN)/python -m pytest -q tests/unit
