# `make repro` runs the whole pipeline; `make test` runs the test suite. Both install into
# .venv from the pinned constraints first, and only when constraints or pyproject changed.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha1sum | cut -c1-12)
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export MLFLOW_DISABLE_TELEMETRY ?= true
export DO_NOT_TRACK ?= true

.PHONY: install repro test test-fast lint clean-outputs

install: $(STAMP)

# The stamp's name carries the hash of the pins: it exists exactly when this venv has them
# (no file-time prerequisites, which a fresh clone would always make look newer).
$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==26.3
	# torch first, alone: the pinned CPU build (a bare `torch` would pull a multi-GB CUDA build)
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e ".[kfp,test]"
	rm -f $(VENV)/.installed-*
	touch $@

repro: install
	dvc repro
	dvc metrics show

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks

clean-outputs:
	@echo "Removes the pipeline outputs (data/, models/, reports/, export/) and the local MLflow store."
	rm -rf data models reports export mlflow.db mlruns
