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

.PHONY: help install lint test test-fast test-compat compat-lock test-distributed demo docs docs-build bench clean

# `make test-compat` runs the test suites against each of these Airflow releases, each on its own Python
# in its own environment (.venv-compat-<version>) synced from compat/airflow-<version>.txt: the floor
# that pyproject.toml declares on the oldest Python it declares, and the newest release on PyPI (a
# pre-release counts until the final is out: `pip index versions apache-airflow --pre`) on the newest
# Python. The main .venv (uv.lock) covers one more.
COMPAT_AIRFLOW := 3.1.0 3.4.0b2
COMPAT_PYTHON_3.1.0 := 3.10
COMPAT_PYTHON_3.4.0b2 := 3.13
# What each environment runs. Both run the unit and integration suites (not e2e, not the docs): on an
# idle 2-core machine that is about 12 min for the floor and 5 min for the newest, next to 11 min of
# `make test`, so .ci/run stays under its 45-minute budget (CI's limit is 90). The e2e deployments
# and the docs build run once, in `make test`.
COMPAT_TESTS_3.1.0 := tests/unit tests/integration
COMPAT_TESTS_3.4.0b2 := tests/unit tests/integration
# `make compat-lock` resolves each version's environment as of the day after its release (an older
# Airflow does not bound every library it imports: 3.1.0 breaks on today's structlog), the way Airflow's
# own constraint files pin what was current at release; empty means "today".
COMPAT_AS_OF_3.1.0 := 2025-09-26T00:00:00Z
COMPAT_AS_OF_3.4.0b2 :=
# A Python version is looked up under pyenv's root first (uv does not see through pyenv's shims), then
# wherever uv finds it (PATH, uv's own installs; downloads stay off).
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null)
compat_python = $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)))),$(1))

# Every target the README or the docs mention is listed here (tests/docs/test_make_help.py).
help:
	@echo "make help        - list these targets (the default goal)"
	@echo "make demo        - render a video on the local emulator and print the MP4 path"
	@echo "make test        - lint, type-check, build the docs and run the whole test suite"
	@echo "make test-fast   - the test suite without the e2e tests (a real Airflow deployment), stop at the first failure"
	@echo "make lint        - ruff check, ruff format --check and mypy"
	@echo "make docs        - serve the documentation at http://127.0.0.1:8000"
	@echo "make docs-build  - build the documentation into ./site (strict: a warning fails)"
	@echo "make bench       - run the benchmarks in bench/ (not part of make test; BENCH_ARGS=--quick for a short run)"
	@echo "make install     - sync the locked environment into .venv (the other targets do it first)"
	@echo "make clean       - remove .venv, .tools, site and the caches"
	@echo "make test-compat - the unit and integration suites against Airflow $(COMPAT_AIRFLOW) (CI runs it after make test)"
	@echo "make compat-lock - re-resolve compat/airflow-<version>.txt for each of those versions"
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

# One environment per Airflow version, from its committed lock file; the package itself is installed
# editable without dependencies, so the lock file alone decides every other version.
.venv-compat-%/.synced: compat/airflow-%.txt pyproject.toml | $(UV)
	rm -rf .venv-compat-$*
	$(UV) venv --quiet --python $(call compat_python,$(COMPAT_PYTHON_$*)) .venv-compat-$*
	$(UV) pip sync --quiet --python .venv-compat-$*/bin/python compat/airflow-$*.txt
	$(UV) pip install --quiet --python .venv-compat-$*/bin/python --no-deps -e .
	@touch $@

# Every version runs even when one fails; the target fails at the end if any did. Behaviour documented
# to differ on older Airflow is expected to differ there (compat/known_differences.py).
test-compat: $(foreach v,$(COMPAT_AIRFLOW),.venv-compat-$(v)/.synced)
	@failed=""; $(foreach v,$(COMPAT_AIRFLOW), \
		echo "== Airflow $(v), Python $$(.venv-compat-$(v)/bin/python -c 'import platform; print(platform.python_version())') (.venv-compat-$(v))"; \
		start=$$(date +%s); \
		.venv-compat-$(v)/bin/python -m pytest $(COMPAT_TESTS_$(v)) -m "not e2e" -q \
			-p no:cacheprovider -p compat.known_differences || failed="$$failed $(v)"; \
		echo "== Airflow $(v): $$(( $$(date +%s) - start )) s";) \
	if [ -n "$$failed" ]; then echo "test-compat failed on Airflow$$failed"; exit 1; fi

# Re-resolve compat/airflow-<version>.txt (needs the index; commit the result).
compat-lock: | $(UV)
	@mkdir -p compat
	@set -e; $(foreach v,$(COMPAT_AIRFLOW),echo "apache-airflow==$(v)" | $(UV) pip compile --quiet \
		pyproject.toml - --extra emulator --group pyproject.toml:test --universal --python-version $(COMPAT_PYTHON_$(v)) \
		$(if $(COMPAT_AS_OF_$(v)),--exclude-newer $(COMPAT_AS_OF_$(v))) \
		--custom-compile-command "make compat-lock" -o compat/airflow-$(v).txt;)

demo: install
	$(UV) run --locked python -m airflow_provider_kling.demo

docs: install
	NO_MKDOCS_2_WARNING=1 $(UV) run --locked mkdocs serve

bench: install
	$(UV) sync --locked --group bench
	$(UV) run --locked --group bench python bench/run_all.py $(BENCH_ARGS)
	@touch .venv/.synced

clean:
	rm -rf .venv .venv-compat-* .tools site .pytest_cache .mypy_cache .ruff_cache
