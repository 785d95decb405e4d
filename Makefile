# heysh — `make run` serves the whole platform embedded; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
REQS := $(wildcard requirements/*.txt)
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)

# The suite runs twice, one behaviour on both: on the embedded default (SQLite, the SQLite file
# broker: no DATABASE_URL or REDIS_URL) and on real PostgreSQL and Redis (pytest-django creates
# test_heysh). Each pass has its own var dir.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/heysh
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
TEST_VAR_DIR ?= $(CURDIR)/var/test
TEST_ENV := HEYSH_EMBEDDER=hashing HF_HUB_OFFLINE=1

.PHONY: install run test test-embedded test-postgres static lint migrate superuser bench-ingest bench-search evaluate clean

# pip shows each package and a progress bar on a terminal (the first install takes minutes);
# piped or in CI it stays quiet. PIP_QUIET=-q or PIP_QUIET= forces either.
PIP_QUIET ?= $(shell test -t 2 || echo -q)

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -n "$(PIP_QUIET)" || echo "Installing requirements/dev.txt into $(VENV) (the first time takes a few minutes)..."
	@$(PY) -m pip install $(PIP_QUIET) --disable-pip-version-check --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) --disable-pip-version-check --progress-bar on -r requirements/dev.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	@bash compose/local/run.sh

test: test-embedded test-postgres

# Lint and the import-layer contracts of pyproject.toml.
static: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test-embedded: static
	env -u DATABASE_URL -u REDIS_URL -u HEYSH_BROKER_URL $(TEST_ENV) HEYSH_VAR_DIR=$(TEST_VAR_DIR)/embedded \
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: static
	env -u HEYSH_BROKER_URL DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(TEST_ENV) \
	HEYSH_VAR_DIR=$(TEST_VAR_DIR)/postgres $(PY) -m pytest $(PYTEST_ARGS)

lint: static
	$(VENV)/bin/ruff format --check .

migrate: install
	$(PY) manage.py migrate --noinput

evaluate: install
	HF_HUB_OFFLINE=1 $(PY) manage.py evaluate ../shared/eval/cranfield

clean:
	rm -rf var/test .pytest_cache
