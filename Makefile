# mlpilot: `make demo` and `make test` set everything up on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: demo test install dev lint bench-clean clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

## demo: create the environment, then run the whole pipeline on the bundled flights sample
demo: install
	$(BIN)/mlpilot demo

## test: install the dev extras, then lint and run the test suite
test: dev
	$(BIN)/ruff check src tests bench
	$(PY) -m pytest

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .mlpilot .pytest_cache .ruff_cache build dist src/*.egg-info

## peers-evidently: Evidently in its own venv (.peers/evidently) for bench/drift.py
peers-evidently:
	$(PYTHON) -m venv .peers/evidently
	.peers/evidently/bin/pip install -q evidently "pandas<3" pyarrow
