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

.PHONY: install browser repro test test-fast lint clean-outputs images push-images mlflow-image

# Container images. Both pipeline images are tagged with the commit they are built from, which
# `spladeforge pipeline compile` pins in the pipeline (kubeflow.image / train_image are these
# repositories). A tag for a tree with uncommitted changes to the image sources would lie.
REGISTRY ?= ghcr.io/spladeforge
IMAGE_SOURCES := constraints.txt pyproject.toml README.md src components pipelines docker
GIT_COMMIT = $(shell git rev-parse HEAD)
CPU_IMAGE = $(REGISTRY)/spladeforge:$(GIT_COMMIT)
CUDA_IMAGE = $(REGISTRY)/spladeforge-cuda:$(GIT_COMMIT)
MLFLOW_IMAGE = $(REGISTRY)/spladeforge-mlflow:3.17.2

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

# The judge page's tests (tests/web) drive a real headless Chromium: Debian's chromium and
# chromium-driver, installed when either is missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing chromium and chromium-driver (apt-get) for the judge page's browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

repro: install
	dvc repro
	dvc metrics show

test: install browser
	$(BIN)/pytest -q

test-fast: install browser
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks

images:
	@test -z "$$(git status --porcelain -- $(IMAGE_SOURCES))" || \
	  { echo "uncommitted changes to the image sources: commit first, the tag would not match"; exit 1; }
	docker build -f docker/cpu.Dockerfile -t $(CPU_IMAGE) .
	docker build -f docker/cuda.Dockerfile -t $(CUDA_IMAGE) .

# Prints the pushed digests: `spladeforge pipeline compile --image <cpu digest> --train-image <cuda digest>`
# pins them even more tightly than the commit tag.
push-images: images
	docker push $(CPU_IMAGE)
	docker push $(CUDA_IMAGE)
	docker inspect --format '{{index .RepoDigests 0}}' $(CPU_IMAGE) $(CUDA_IMAGE)

mlflow-image:
	docker build -f docker/mlflow.Dockerfile -t $(MLFLOW_IMAGE) docker

clean-outputs:
	@echo "Removes the pipeline outputs (data/, models/, reports/, export/) and the local MLflow store."
	rm -rf data models reports export mlflow.db mlruns
