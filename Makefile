# The two commands a new user runs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
VENDOR := web/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed-stamp
PORT ?= 5000
# the front-end files the pages load (from package.json through npm; never committed)
VENDOR_FILES := node_modules/bootstrap/dist/css/bootstrap.min.css \
	node_modules/bootstrap/dist/js/bootstrap.bundle.min.js \
	node_modules/htmx.org/dist/htmx.min.js \
	node_modules/tom-select/dist/js/tom-select.complete.min.js \
	node_modules/tom-select/dist/css/tom-select.bootstrap5.min.css \
	node_modules/chart.js/dist/chart.umd.min.js \
	node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	node_modules/bpmn-js/dist/bpmn-modeler.production.min.js \
	node_modules/bpmn-js/dist/assets/diagram-js.css \
	node_modules/bpmn-js/dist/assets/bpmn-js.css \
	node_modules/bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# tests run in this many processes (pytest-xdist; CI has 2 cores), each test file kept in one process so
# its module fixtures (an app, a served app) are built once; TEST_WORKERS=0 runs them in this process
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

.PHONY: install run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aimsflow needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(VENDOR_STAMP): package.json package-lock.json web/frontend/build.mjs
	@command -v npm >/dev/null || { echo "npm is needed for the web app's front-end packages (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(VENDOR_FILES) $(VENDOR)/
	npm run --silent build
	@touch $(VENDOR_STAMP)

install: $(STAMP) $(VENDOR_STAMP)

run: install
	$(BIN)/aimsflow db upgrade
	$(BIN)/aimsflow demo load
	$(BIN)/aimsflow deploy
	@$(BIN)/python -m web.welcome --port $(PORT)
	$(BIN)/aimsflow run --port $(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	@if [ ! -x "$${AIMSFLOW_CHROMIUM:-/usr/bin/chromium}" ]; then \
		echo "chromium (/usr/bin/chromium) is not installed: the browser tests in tests/e2e will NOT run (apt-get install chromium)"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi
	$(MAKE) --no-print-directory test-sqlite
	@if $(BIN)/python -m tests.pg_available "$(PG_TEST_URL)"; then \
		$(MAKE) --no-print-directory test-postgres; \
	else \
		echo "PostgreSQL at $(PG_TEST_URL) does not answer: the PostgreSQL run was SKIPPED (CI starts it)"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi

test-sqlite: install
	@echo "== test suite on SQLite ($(TEST_WORKERS) workers)"
	$(PYTEST)

test-postgres: install
	@echo "== test suite on PostgreSQL ($(TEST_WORKERS) workers, a database each: test_gw0, test_gw1, ...)"
	AIMSFLOW_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench engine
	$(BIN)/python -m bench sweep
	$(BIN)/python -m bench deploy

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache node_modules $(VENDOR)
