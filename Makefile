PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean test-airflow test-metrics test-openstack \
	dist man test-install test-pythons

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,openstack,dist]'
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

# the sdist and the wheel in dist/, checked as PyPI would check them
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

# docs/man/*.1 from the click commands (test_manpages.py fails when they are stale)
man: $(STAMP)
	$(BIN)/python -W ignore::DeprecationWarning -m tests.manpages docs/man

# the wheel installed into a fresh venv in a temporary folder, run from there; the
# unpacked sdist runs its tests
test-install: dist
	$(BIN)/pytest -m install tests/install

# the unit tier on the oldest and newest supported Python (pyenv's or on PATH), each in a
# venv cached under ~/.cache/batch-ims; a version that is missing is skipped with a message
test-pythons: $(STAMP)
	$(BIN)/python -m tests.pythons 3.11 3.13

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .pytest_cache .ruff_cache
