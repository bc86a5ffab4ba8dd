# Coffre — `make run` starts a demo on 127.0.0.1:8000; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
COFFRE_HOME ?= $(CURDIR)/.coffre
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export COFFRE_HOME

.PHONY: help run test lint unit bench deb-deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.run: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check --disable-pip-version-check
	@touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check --disable-pip-version-check
	@touch $@ $(VENV)/.run

deb-deps: ## Install the Debian packages the tests need (quick when present)
	@if [ ! -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v softhsm2-util >/dev/null; then \
		echo "Installing softhsm2…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; \
	fi
	@if ! command -v curl >/dev/null; then \
		echo "Installing curl…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; \
	fi
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "Installing chromium and chromium-driver…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

run: $(VENV)/.run ## Set up, seed a demo on first run, and serve on 127.0.0.1:8000
	@if [ ! -e "$(COFFRE_HOME)/config.toml" ]; then \
		$(BIN)/coffre init --environment demo && $(BIN)/coffre demo; \
	fi
	$(BIN)/coffre serve

lint: $(VENV)/.dev ## Import contracts and ruff
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: $(VENV)/.dev deb-deps lint ## Every check: contracts, ruff, the whole suite on SQLite and PostgreSQL
	@if $(BIN)/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null; then \
		export COFFRE_TEST_DATABASE_URL="$(PG_URL)"; \
		echo "PostgreSQL answers at 127.0.0.1:5432: the store tests run on it as well as SQLite."; \
	else \
		echo "PostgreSQL does not answer at 127.0.0.1:5432: the PostgreSQL store tests were skipped."; \
	fi; \
	$(BIN)/python -m pytest -n 2 --cov=coffre --cov-branch --cov-report=
	@# The security core keeps (nearly) every branch tested.
	$(BIN)/coverage report --fail-under=99 \
		--include='src/coffre/crypto/*,src/coffre/journal/*,src/coffre/access/*'

bench: $(VENV)/.dev ## Benchmarks; figures in bench/out/latest.json
	$(BIN)/python bench/run.py

clean: ## Remove the virtual environment and caches (not .coffre)
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
