# mlpilot: `make demo` and `make test` set everything up on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: demo test install dev lint bench-clean clean peers-mlflow bench-serving bench-batch

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

## peers-mlflow: MLflow (the serving benchmark's peer) in its own venv, never in .venv
PEERS_MLFLOW := .peers/mlflow
$(PEERS_MLFLOW)/.installed:
	$(PYTHON) -m venv $(PEERS_MLFLOW)
	$(PEERS_MLFLOW)/bin/python -m pip install -q --upgrade pip
	$(PEERS_MLFLOW)/bin/python -m pip install -q "mlflow>=2.12" "lightgbm>=4.3" "pandas>=2.1" "pyarrow>=14"
	@touch $@

peers-mlflow: $(PEERS_MLFLOW)/.installed

## bench-serving / bench-batch: measured runs, serialised through a lock (2 shared cores)
bench-serving: dev peers-mlflow
	flock /tmp/mlpilot-bench.lock $(PY) bench/serving.py

bench-batch: dev
	flock /tmp/mlpilot-bench.lock $(PY) bench/batch.py

## peers-automl: FLAML and AutoGluon in their own environment, for bench/automl.py
peers-automl: .peers/automl/.installed

.peers/automl/.installed:
	$(PYTHON) -m venv .peers/automl
	.peers/automl/bin/python -m pip install -q "flaml[automl]>=2.1" "autogluon.tabular[lightgbm,catboost,xgboost]>=1.1" pyarrow
	@touch $@

## peers-evidently: Evidently in its own venv (.peers/evidently) for bench/drift.py
peers-evidently:
	$(PYTHON) -m venv .peers/evidently
	.peers/evidently/bin/pip install -q evidently "pandas<3" pyarrow
