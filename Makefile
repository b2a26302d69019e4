# The README's two commands:
#   make run    set up, then run the embedded default grid (digits-LT, CPU, a few minutes)
#   make test   set up, then run the whole test suite (what .ci/run calls)
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install system-deps run test unit

install:
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .

# Debian packages the tests drive for real: a one-node SLURM cluster and headless Chromium.
system-deps:
	bash .ci/install-system-deps.sh

run: install
	snakemake --cores all

test: install system-deps
	$(PYTHON) -m pytest -q

unit: install
	$(PYTHON) -m pytest -q tests/unit
