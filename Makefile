# The project's verbs. Each sets up .venv on first use (and again when setup.cfg changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
HOST ?= 127.0.0.1
PORT ?= 5000
# The demo's bearer token; the example app makes a random one when this is empty.
DEMO_BEARER_TOKEN ?= demo-admin-token

# Debian's packages: the browser the dashboard's test drives (Playwright never downloads one),
# and the benchmarks' load generator and instruction counter.
CHROMIUM := /usr/bin/chromium
WRK := /usr/bin/wrk
VALGRIND := /usr/bin/valgrind
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench lint format clean

$(READY): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sql]'
	touch $@

run: $(READY)
	DEMO_BEARER_TOKEN=$(DEMO_BEARER_TOKEN) $(BIN)/python -m example_app --host $(HOST) --port $(PORT)

test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

# Figures, not tests: prints a table and keeps it as JSON in bench/results/. BENCH_ARGS=--quick
# for a short smoke run.
bench: $(READY) $(WRK) $(VALGRIND)
	bash .ci/postgres
	$(BIN)/python -m bench $(BENCH_ARGS)

$(CHROMIUM) $(WRK) $(VALGRIND):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(notdir $@) \
	|| ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y $(notdir $@))

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict flask_import_abort

format: $(READY)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
