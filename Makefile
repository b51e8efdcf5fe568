# Two entry points for a fresh machine (see README):
#   make demo   install into .venv (CPU torch first) and run the bundled demo
#   make test   install into .venv and run the whole test suite
# and one for a machine with a GPU, first thing there (README, "On a GPU"; no .venv: the
# image's python3 with its CUDA torch):
#   make gpu-check   every GPU check, one PASS/FAIL line each, summary in $(GPU_OUT)
# (make gpu-prepare, before, where the data and the package registry are: what to carry there)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench gpu-prepare gpu-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first, so that no multi-GB CUDA build is pulled in
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/prune4rel demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/prune4rel
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_select.py

# data_local/ holds cifar10_small_webpq95.npz and cifar10n_labels.npz, .gpu/site the pure-Python
# packages the gpu-marked tests import beyond a stock CUDA image (both git-ignored): prepare them
# where the data and the package registry are, then carry both folders to the GPU machine
GPU_DATA ?= data_local
GPU_OUT ?= runs/gpu_check
SHARED_DATA ?= ../shared/data
gpu-prepare:
	mkdir -p $(GPU_DATA)
	cp $(SHARED_DATA)/cifar10_small_webpq95.npz $(SHARED_DATA)/cifar10n_labels.npz $(GPU_DATA)/
	# pure-Python wheels resolved for Python 3.10, so they import on any image from 3.10 on
	$(PYTHON) -m pip install -q --no-compile --upgrade --target .gpu/site --only-binary=:all: \
		--platform any --implementation py --python-version 3.10 pytest hypothesis \
		exceptiongroup tomli  # what pytest needs below Python 3.11

gpu-check:
	PYTHONPATH=src $(PYTHON) benchmarks/gpu_check.py --data $(GPU_DATA) --out $(GPU_OUT)
