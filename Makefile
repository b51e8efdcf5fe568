# Two entry points for a fresh machine (see README):
#   make demo   install into .venv (CPU torch first) and run the bundled demo
#   make test   install into .venv and run the whole test suite
# and one for a machine with a GPU, first thing there (README, "On a GPU"; no .venv: the
# image's python3 with its CUDA torch):
#   make gpu-check   every GPU check, one PASS/FAIL line each, summary in $(GPU_OUT)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench gpu-check

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

# data_local/ holds cifar10_small_webpq95.npz and cifar10n_labels.npz (git-ignored)
GPU_DATA ?= data_local
GPU_OUT ?= runs/gpu_check
gpu-check:
	PYTHONPATH=src $(PYTHON) benchmarks/gpu_check.py --data $(GPU_DATA) --out $(GPU_OUT)
