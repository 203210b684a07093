# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aimsflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/aimsflow db upgrade
	$(BIN)/aimsflow deploy
	$(BIN)/aimsflow demo load
	@$(BIN)/python -m web.welcome
	$(BIN)/aimsflow worker

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory test-sqlite
	@if $(BIN)/python -m tests.pg_available "$(PG_TEST_URL)"; then \
		$(MAKE) --no-print-directory test-postgres; \
	else \
		echo "PostgreSQL at $(PG_TEST_URL) does not answer: the PostgreSQL run was SKIPPED (CI starts it)"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi

test-sqlite: install
	@echo "== test suite on SQLite"
	$(BIN)/pytest -q

test-postgres: install
	@echo "== test suite on PostgreSQL"
	AIMSFLOW_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench engine
	$(BIN)/python -m bench sweep

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache
