# Two commands matter: `make demo` and `make test`. Both work on a machine with only python3 and make:
# uv is installed from PyPI into .tools/ when it is not on PATH, and the locked environment is synced.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_BIN := $(shell command -v uv 2>/dev/null)
ifeq ($(UV_BIN),)
UV_BIN := $(CURDIR)/.tools/bin/uv
endif
UV := $(UV_BIN)

export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= python3

.PHONY: help install lint test test-fast demo docs docs-build bench clean

# Every target the README or the docs mention is listed here (tests/docs/test_make_help.py).
help:
	@echo "make demo        - render a video on the local emulator and print the MP4 path"
	@echo "make test        - lint, type-check, build the docs and run the whole test suite"
	@echo "make test-fast   - the test suite without the e2e tests (a real Airflow deployment), stop at the first failure"
	@echo "make lint        - ruff check, ruff format --check and mypy"
	@echo "make docs        - serve the documentation at http://127.0.0.1:8000"
	@echo "make docs-build  - build the documentation into ./site (strict: a warning fails)"
	@echo "make bench       - run the benchmarks in bench/ (not part of make test; BENCH_ARGS=--quick for a short run)"
	@echo "make install     - sync the locked environment into .venv (the other targets do it first)"
	@echo "make clean       - remove .venv, .tools, site and the caches"
	@echo "make test-distributed - the e2e scenario on CeleryExecutor + PostgreSQL + Redis (part of make test when they answer)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

install: .venv/.synced

lint: install
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy

docs-build: install
	NO_MKDOCS_2_WARNING=1 $(UV) run --locked mkdocs build --strict --site-dir site

test: lint docs-build
	$(UV) run --locked pytest

# The production topology (tests/e2e/test_distributed.py): PostgreSQL on 127.0.0.1:5432, Redis on
# 127.0.0.1:6379, two Celery workers, two triggerers. `make test` runs it too when both answer, and
# says why it skips it when they do not (with CI=true it fails instead).
.PHONY: test-distributed
test-distributed: install
	$(UV) run --locked pytest tests/e2e/test_distributed.py -s

test-fast: install
	$(UV) run --locked pytest -m "not e2e" -x

demo: install
	$(UV) run --locked python -m airflow_provider_kling.demo

docs: install
	NO_MKDOCS_2_WARNING=1 $(UV) run --locked mkdocs serve

bench: install
	$(UV) sync --locked --group bench
	$(UV) run --locked --group bench python bench/run_all.py $(BENCH_ARGS)
	@touch .venv/.synced

clean:
	rm -rf .venv .tools site .pytest_cache .mypy_cache .ruff_cache
