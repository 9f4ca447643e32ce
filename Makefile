PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean test-airflow test-metrics test-openstack

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,openstack]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/batch-ims demo

lint: $(STAMP)
	$(BIN)/ruff check batch_ims tests bench
	$(BIN)/ruff format --check batch_ims tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

# Airflow lives in its own cached venv: ${XDG_CACHE_HOME:-~/.cache}/batch-ims/airflow-venv
test-airflow: $(STAMP)
	$(BIN)/python -m tests.airflow.venv
	$(BIN)/pytest -m airflow tests/airflow

# a real Pushgateway and promtool, from Debian's packages (installed when missing)
test-metrics: $(STAMP)
	sh tests/metrics/install-prometheus.sh
	$(BIN)/pytest -m prometheus tests/metrics

# A real Keystone and Glance on loopback, from a venv cached under ~/.cache/batch-ims
# (built on first use, a minute or more; rebuilt when tests/openstack/ changes its pins).
test-openstack: $(STAMP)
	$(BIN)/python -m tests.openstack.venv
	$(BIN)/pytest -m openstack

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
